-- Gave email marketing consent in the last 60 days and have not ordered yet.
with

candidates as (
    select * from {{ ref('int_segment_candidates') }}
),

consent as (
    select * from {{ ref('stg_consent__records') }}
),

record_customers as (
    select * from {{ ref('bdg_customer_source_records') }}
),

first_grants as (
    select
        record_customers.customer_id,
        min(consent.recorded_at) as subscribed_at
    from consent
    inner join record_customers
        on
            record_customers.source = 'consent_records'
            and consent.consent_id = record_customers.source_record_id
    where consent.channel = 'email' and consent.consent_status = 'granted'
    group by record_customers.customer_id
),

final as (
    select
        candidates.customer_id,
        candidates.email,
        candidates.first_name,
        candidates.last_name,
        candidates.consent_email,
        first_grants.subscribed_at
    from candidates
    inner join first_grants on candidates.customer_id = first_grants.customer_id
    where
        candidates.orders_count = 0
        and candidates.consent_email = 'granted'
        and {{ dbt.datediff('first_grants.subscribed_at', 'candidates.as_of_at', 'day') }} <= 60  -- noqa: LT05
)

select * from final
