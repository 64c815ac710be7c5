-- Customers who bought often but not lately: high frequency, low recency.
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
    revenue_total
from {{ ref('int_segment_candidates') }}
where frequency_score >= 4 and recency_score <= 2
