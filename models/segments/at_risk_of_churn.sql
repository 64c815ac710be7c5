-- Repeat buyers the buy-till-you-die model thinks have probably stopped buying
-- (churn probability 0.5 or more), most valuable first when a sync caps the audience.
select
    customer_id,
    email,
    phone,
    first_name,
    last_name,
    consent_email,
    consent_sms,
    days_since_last_order,
    orders_count,
    revenue_total,
    churn_probability,
    predicted_value_12m
from {{ ref('int_segment_candidates') }}
where orders_count >= 2 and churn_probability >= 0.5
