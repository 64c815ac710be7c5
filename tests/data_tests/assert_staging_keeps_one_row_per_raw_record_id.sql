{#-
    Deduplication check: every staging model has exactly one row per distinct record id
    of its raw table (the source contract's `meta.cdp.record_id`, ids trimmed as staging
    trims them). More rows means duplicates leaked through; fewer means records were lost.
    The staging models come from the generated macros/staging/_generated_staging_models.sql
    (refs known while parsing); their raw tables and record ids from dbt's graph
    (macros/staging/staged_contracts.sql).
-#}
{%- for name in cdp.staging_models() %}
-- depends_on: {{ ref(name) }}
{%- endfor %}
{%- set staged = cdp.staged_contracts() %}

with

{% for model_name, raw_relation, record_id in staged -%}
{%- set id_columns = [] -%}
{%- for column in record_id -%}
    {%- do id_columns.append(
        "nullif(trim(cast(" ~ column ~ " as " ~ dbt.type_string() ~ ")), '') as id_" ~ loop.index
    ) -%}
{%- endfor %}
{{ model_name }}_raw_ids as (
    select distinct {{ id_columns | join(', ') }}
    from {{ raw_relation }}
),

{% endfor -%}

counts as (
    {%- for model_name, raw_relation, record_id in staged %}
    select
        '{{ model_name }}' as model_name,
        count(*) as staged_rows,
        0 as raw_record_ids
    from {{ ref(model_name) }}
    union all
    select
        '{{ model_name }}' as model_name,
        0 as staged_rows,
        count(*) as raw_record_ids
    from {{ model_name }}_raw_ids
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not staged %}
    select
        cast(null as {{ dbt.type_string() }}) as model_name,
        0 as staged_rows,
        0 as raw_record_ids
    where false
    {%- endif %}
),

compared as (
    select
        model_name,
        sum(staged_rows) as staged_rows,
        sum(raw_record_ids) as raw_record_ids
    from counts
    group by model_name
),

final as (
    select *
    from compared
    where staged_rows <> raw_record_ids
)

select * from final
