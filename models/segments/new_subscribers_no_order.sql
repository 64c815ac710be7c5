-- Gave email marketing consent in the last 60 days (and still do) and have not ordered yet.
select
    customer_id,
    email,
    first_name,
    last_name,
    consent_email,
    email_subscribed_at as subscribed_at
from {{ ref('int_segment_candidates') }}
where
    orders_count = 0
    and consent_email = 'granted'
    and {{ dbt.datediff('email_subscribed_at', 'as_of_at', 'day') }} <= 60  -- noqa: LT05
