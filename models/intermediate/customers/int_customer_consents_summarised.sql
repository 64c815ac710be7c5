{#-
    Consent per customer and channel (marketing and personalisation purposes): the latest
    status and when it was first granted. Grain: one row per (customer_id, channel).
-#}
with

consent as (
    select * from {{ ref('stg_consent__records') }}
    where purpose in ('marketing', 'personalisation')
),

record_customers as (
    select * from {{ ref('bdg_customer_source_records') }}
),

customer_consent as (
    select
        record_customers.customer_id,
        consent.channel,
        consent.consent_status,
        consent.recorded_at,
        row_number() over (
            partition by record_customers.customer_id, consent.channel
            order by consent.recorded_at desc, consent.consent_id desc
        ) as recency_rank
    from consent
    inner join record_customers
        on
            record_customers.source = 'consent_records'
            and consent.consent_id = record_customers.source_record_id
),

summarised as (
    select
        customer_id,
        channel,
        max(case when recency_rank = 1 then consent_status end) as consent_status,
        min(case when consent_status = 'granted' then recorded_at end) as first_granted_at
    from customer_consent
    group by customer_id, channel
)

select * from summarised
