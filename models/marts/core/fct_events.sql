{#-
    One conformed stream of everything customers did: web page views and tracked events,
    online orders, store purchases, email events and support tickets, each with the stitched
    customer_id (anonymous web events included, once a login or order links their device).
    Grain: one row per source record. Revenue is set on purchases only.
-#}
with

web_events as (
    select * from {{ ref('stg_web__events') }}
),

orders as (
    select * from {{ ref('fct_orders') }}
),

email_events as (
    select * from {{ ref('stg_email__events') }}
),

support_tickets as (
    select * from {{ ref('stg_support__tickets') }}
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
        order_id
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
        order_id
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
        cast(null as {{ dbt.type_string() }}) as order_id
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
        cast(null as {{ dbt.type_string() }}) as order_id
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

final as (
    select
        concat(events.source, ':', events.source_record_id) as event_id,
        record_customers.customer_id,
        events.event_type,
        events.event_name,
        events.channel,
        events.event_at,
        events.revenue,
        events.order_id,
        events.source,
        events.source_record_id
    from events
    left join record_customers
        on
            events.source = record_customers.source
            and events.source_record_id = record_customers.source_record_id
)

select * from final
