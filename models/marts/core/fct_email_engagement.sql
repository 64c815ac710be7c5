{#-
    Email engagement per customer and campaign. Grain: one row per (recipient email,
    campaign), with the customer when the address is linked to one.
-#}
with

email_events as (
    select * from {{ ref('stg_email__events') }}
),

record_customers as (
    select * from {{ ref('bdg_customer_source_records') }}
),

events as (
    select
        email_events.email_event_id,
        email_events.email,
        email_events.campaign_id,
        email_events.campaign_name,
        email_events.event_type,
        email_events.event_at,
        record_customers.customer_id
    from email_events
    left join record_customers
        on
            record_customers.source = 'email_events'
            and email_events.email_event_id = record_customers.source_record_id
),

per_campaign as (
    select
        email,
        campaign_id,
        max(customer_id) as customer_id,
        max(campaign_name) as campaign_name,
        min(case when event_type = 'send' then event_at end) as sent_at,
        min(case when event_type = 'open' then event_at end) as first_opened_at,
        min(case when event_type = 'click' then event_at end) as first_clicked_at,
        sum(case when event_type = 'open' then 1 else 0 end) as opens,
        sum(case when event_type = 'click' then 1 else 0 end) as clicks,
        max(case when event_type = 'bounce' then 1 else 0 end) as bounced,
        max(case when event_type = 'unsubscribe' then 1 else 0 end) as unsubscribed
    from events
    group by email, campaign_id
),

final as (
    select
        customer_id,
        email,
        campaign_id,
        campaign_name,
        sent_at,
        first_opened_at,
        first_clicked_at,
        cast(opens as bigint) as opens,
        cast(clicks as bigint) as clicks,
        opens > 0 as opened,
        clicks > 0 as clicked,
        bounced = 1 as bounced,
        unsubscribed = 1 as unsubscribed
    from per_campaign
)

select * from final
