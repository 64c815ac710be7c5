{#-
    Event times more than a day ahead of now are clock or parsing errors
    (timestamps are UTC; a day of slack covers any session time zone).
    Warns rather than fails: a bad device clock should not stop the pipeline.
-#}
{{ config(severity='warn') }}

{%- set checked = [
    ('stg_web__events', 'event_id', 'event_at'),
    ('stg_crm__contacts', 'contact_id', 'created_at'),
    ('stg_shop__orders', 'order_id', 'ordered_at'),
    ('stg_pos__transactions', 'transaction_id', 'transacted_at'),
    ('stg_loyalty__members', 'member_id', 'joined_at'),
    ('stg_email__events', 'email_event_id', 'event_at'),
    ('stg_support__tickets', 'ticket_id', 'created_at'),
    ('stg_consent__records', 'consent_id', 'recorded_at'),
] %}

with

timestamps as (
    {% for model_name, id_column, at_column in checked %}
    select
        '{{ model_name }}' as model_name,
        {{ id_column }} as record_id,
        '{{ at_column }}' as column_name,
        {{ at_column }} as checked_at
    from {{ ref(model_name) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select *
    from timestamps
    where checked_at > {{ dbt.dateadd('day', 1, dbt.current_timestamp()) }}
)

select * from final
