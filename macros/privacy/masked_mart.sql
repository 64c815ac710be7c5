{#-
    The whole body of a model under models/bi/ named bi_<mart>: the mart <mart> as a view of
    the same name in the BI schema, every column in the mart's YAML order, and each column
    the YAML tags `pii` replaced by the hex SHA-256 of the warehouse's secret key and its
    value as text (cdp.pii_hash_key; null stays null). Equal values hash equal in every view
    and build, so hashes still join and count, but a reader without the key cannot hash
    guesses to find whose value a hash is.

    The tags are the one list of personal data: a column tagged `pii` in a mart's YAML is
    hashed here without another word. A mart's columns are its enforced contract, so the
    view has all of them; a mart without documented columns fails to compile.
-#}
{% macro masked_mart() -%}
    {%- if not model.name.startswith('bi_') -%}
        {{ exceptions.raise_compiler_error(
            "cdp.masked_mart() builds models named bi_<mart>, not " ~ model.name) }}
    {%- endif -%}
    {%- set mart_name = model.name[3:] -%}
    {{ config(alias=mart_name) }}
    {%- set mart = ref(mart_name) -%}
    {%- set hash_key = cdp.pii_hash_key() -%}
    {%- if execute -%}
        {%- set nodes = graph.nodes.values()
            | selectattr('resource_type', 'equalto', 'model')
            | selectattr('name', 'equalto', mart_name) | list -%}
        {%- set columns = nodes[0].columns.values() | list if nodes else [] -%}
        {%- if not columns -%}
            {{ exceptions.raise_compiler_error(
                model.name ~ ": the mart " ~ mart_name ~ " documents no columns in its YAML, "
                ~ "so none could be known to hold personal data") }}
        {%- endif -%}
with

mart as (
    select * from {{ mart }}
),

{#- one row (the table has one); `limit 1`, not max(): DuckDB 2.0 drops the LIMIT of a query
    over a cross join with a one-row aggregate (`select ... where email is not null limit 2`
    returned every row) #}
hash_key as (
    select hash_key from {{ hash_key }}
    order by hash_key
    limit 1
),

final as (
    select
        {%- for column in columns %}
        {%- set tags = (column.tags or []) + ((column.config or {}).tags or []) %}
        {%- if 'pii' in tags %}
        {{ cdp.sha256_hex('hash_key.hash_key || cast(mart.' ~ column.name ~ ' as ' ~ dbt.type_string() ~ ')') }}
            as {{ column.name }}{{ ',' if not loop.last }}
        {%- else %}
        mart.{{ column.name }}{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from mart
    cross join hash_key
)

select * from final
    {%- endif -%}
{%- endmacro %}
