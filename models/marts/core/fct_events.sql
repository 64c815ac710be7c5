{#-
    One conformed stream of everything customers did: web page views and tracked events,
    online orders, store purchases, email events and support tickets, each with the stitched
    customer_id (anonymous web events included, once a login or order links their device).
    Grain: one row per source record. Revenue is set on purchases only.

    Incremental (delete+insert on event_id). A build processes
    - the records of each source loaded since the newest one already here (late events
      included: they are new records, whatever their event time), and
    - the rows already here whose customer changed: a merge moved their record to the
      surviving customer, a login stitched an anonymous device, or a guard unlinked it.
    So every row carries the current customer_id without a full refresh, and a full
    refresh gives the same rows.
-#}
{{ config(
    materialized='incremental',
    unique_key='event_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    tags=['incremental']
) }}

with

web_events as (
    select * from {{ ref('stg_web__events') }}
    where {{ cdp.loaded_since_last_build('_loaded_at', 'loaded_at', "source = 'web_events'") }}
),

orders as (
    select * from {{ ref('fct_orders') }}
    where {{ cdp.loaded_since_last_build('loaded_at', among="source in ('shop_orders', 'pos_transactions')") }}
),

email_events as (
    select * from {{ ref('stg_email__events') }}
    where {{ cdp.loaded_since_last_build('_loaded_at', 'loaded_at', "source = 'email_events'") }}
),

support_tickets as (
    select * from {{ ref('stg_support__tickets') }}
    where {{ cdp.loaded_since_last_build('_loaded_at', 'loaded_at', "source = 'support_tickets'") }}
),

record_customers as (
    select * from {{ ref('bdg_customer_source_records') }}
),

web as (
    select
        'web_events' as source,
        event_id as source_record_id,
        case event_type when 'page' then 'page_view' else event_type end as event_type,
        coalesce(event_name, page_path) as event_name,
        'web' as channel,
        event_at,
        cast(null as decimal(18, 2)) as revenue,
        order_id,
        anonymous_id,
        page_path,
        _loaded_at as loaded_at
    from web_events
),

purchases as (
    select
        source,
        source_record_id,
        case channel when 'store' then 'store_purchase' else 'order_placed' end as event_type,
        coalesce(store_id, order_status) as event_name,
        channel,
        ordered_at as event_at,
        revenue,
        order_id,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        cast(null as {{ dbt.type_string() }}) as page_path,
        loaded_at
    from orders
),

email as (
    select
        'email_events' as source,
        email_event_id as source_record_id,
        concat('email_', event_type) as event_type,
        campaign_name as event_name,
        'email' as channel,
        event_at,
        cast(null as decimal(18, 2)) as revenue,
        cast(null as {{ dbt.type_string() }}) as order_id,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        cast(null as {{ dbt.type_string() }}) as page_path,
        _loaded_at as loaded_at
    from email_events
),

support as (
    select
        'support_tickets' as source,
        ticket_id as source_record_id,
        'support_ticket' as event_type,
        subject as event_name,
        concat('support_', coalesce(channel, 'unknown')) as channel,
        created_at as event_at,
        cast(null as decimal(18, 2)) as revenue,
        cast(null as {{ dbt.type_string() }}) as order_id,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        cast(null as {{ dbt.type_string() }}) as page_path,
        _loaded_at as loaded_at
    from support_tickets
),

events as (
    select * from web
    union all
    select * from purchases
    union all
    select * from email
    union all
    select * from support
),

new_events as (
    select
        concat(events.source, ':', events.source_record_id) as event_id,
        record_customers.customer_id,
        events.event_type,
        events.event_name,
        events.channel,
        events.event_at,
        events.revenue,
        events.order_id,
        events.anonymous_id,
        events.page_path,
        events.source,
        events.source_record_id,
        events.loaded_at
    from events
    left join record_customers
        on
            events.source = record_customers.source
            and events.source_record_id = record_customers.source_record_id
),

{%- if is_incremental() %}

reattributed as (
    -- rows already built whose record now belongs to another customer (or to none)
    select
        built.event_id,
        record_customers.customer_id,
        built.event_type,
        built.event_name,
        built.channel,
        built.event_at,
        built.revenue,
        built.order_id,
        built.anonymous_id,
        built.page_path,
        built.source,
        built.source_record_id,
        built.loaded_at
    from {{ this }} as built
    left join record_customers
        on
            built.source = record_customers.source
            and built.source_record_id = record_customers.source_record_id
    where built.customer_id is distinct from record_customers.customer_id
),

final as (
    select * from new_events
    union all
    select * from reattributed
)

{%- else %}

final as (
    select * from new_events
)

{%- endif %}

select * from final
