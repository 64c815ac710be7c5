{#-
    Deduplication check: every staging model has exactly one row per distinct
    record id of its raw table (ids trimmed as staging trims them). More rows
    means duplicates leaked through; fewer means records were lost.
-#}
{%- set staged = [
    ('stg_web__events', 'web', 'events', ['message_id']),
    ('stg_crm__contacts', 'crm', 'contacts', ['contact_id']),
    ('stg_shop__orders', 'shop', 'orders', ['order_id']),
    ('stg_shop__order_items', 'shop', 'order_items', ['order_id', 'line_number']),
    ('stg_pos__transactions', 'pos', 'transactions', ['transaction_id']),
    ('stg_loyalty__members', 'loyalty', 'members', ['member_id']),
    ('stg_email__events', 'email', 'events', ['event_id']),
    ('stg_support__tickets', 'support', 'tickets', ['ticket_id']),
    ('stg_consent__records', 'consent', 'records', ['consent_id']),
] -%}

with

{% for model_name, source_name, table_name, record_id in staged -%}
{%- set id_columns = [] -%}
{%- for column in record_id -%}
    {%- do id_columns.append(
        "nullif(trim(cast(" ~ column ~ " as " ~ dbt.type_string() ~ ")), '') as id_" ~ loop.index
    ) -%}
{%- endfor %}
{{ model_name }}_raw_ids as (
    select distinct {{ id_columns | join(', ') }}
    from {{ source(source_name, table_name) }}
),

{% endfor -%}

counts as (
    {%- for model_name, source_name, table_name, record_id in staged %}
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
