{#-
    One row per (source record, identifier) as the source wrote it, from every model that
    declares `meta.identity` (see macros/identity/identity_declarations.sql). Adding a source
    means declaring its identifiers in its YAML; the refs below come from the generated
    macros/identity/_generated_identity_inputs.sql.

    Append-only: a build adds the rows loaded after the newest row of their source here
    (records are immutable: staging keeps the first load of each), filtered before the
    identifiers are unpivoted. See
    macros/identity/identity_incremental.sql.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='identity_scope',
    on_schema_change='sync_all_columns',
    tags=['incremental'],
    post_hook=["{{ cdp.index_for_joins(['source', 'loaded_at']) }}"],
) }}
{%- for name in cdp.identity_input_models() %}
-- depends_on: {{ ref(name) }}
{%- endfor %}
{%- set declarations = cdp.identity_declarations() %}
{{ cdp.identity_check_dependencies(declarations) }}
{%- set text = dbt.type_string() %}
{%- set incremental = cdp.identity_incremental() %}

with
{% for decl in declarations %}
{{ decl.name }}_identifiers as (
    select
        '{{ decl.source }}' as source,
        {{ cdp.identity_record_id(decl) }} as source_record_id,
        declared.identifier_type,
        declared.raw_value,
        declared.country_code,
        {{ decl.seen_at or '_loaded_at' }} as seen_at,
        _loaded_at as loaded_at  -- noqa: RF02
    from (
        select * from {{ ref(decl.name) }}
        {%- if incremental %}
        -- the rows loaded after the newest row of this source here
        where _loaded_at > (
            select coalesce(max(built.loaded_at), cast('1900-01-01' as timestamp))
            from {{ this }} as built
            where built.source = '{{ decl.source }}'
        )
        {%- endif %}
    ) as staged
    cross join
        lateral (
            values
            {%- for ident in decl.identifiers %}
            {%- if ident.type_column %}
            (
                case {{ ident.type_column }}
                    {%- for value, type in ident.types.items() %}
                    when '{{ value }}' then '{{ type }}'
                    {%- endfor %}
                end,
                cast({{ ident.column }} as {{ text }}),
                cast({{ ident.country_column or 'null' }} as {{ text }})
            ){{ "," if not loop.last }}
            {%- else %}
            (
                '{{ ident.type }}',
                cast({{ ident.column }} as {{ text }}),
                cast({{ ident.country_column or 'null' }} as {{ text }})
            ){{ "," if not loop.last }}
            {%- endif %}
            {%- endfor %}
        ) as declared (identifier_type, raw_value, country_code)
    where declared.raw_value is not null and declared.identifier_type is not null
),
{% endfor %}

unioned as (
    {%- for decl in declarations %}
    select * from {{ decl.name }}_identifiers
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not declarations %}
    select
        cast(null as {{ text }}) as source,
        cast(null as {{ text }}) as source_record_id,
        cast(null as {{ text }}) as identifier_type,
        cast(null as {{ text }}) as raw_value,
        cast(null as {{ text }}) as country_code,
        cast(null as timestamp) as seen_at,
        cast(null as timestamp) as loaded_at
    where false
    {%- endif %}
)

select * from unioned
