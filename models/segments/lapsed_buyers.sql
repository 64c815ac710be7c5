-- Bought before, but nothing in the last year.
select
    customer_id,
    email,
    first_name,
    last_name,
    consent_email,
    last_order_at,
    days_since_last_order,
    revenue_total
from {{ ref('int_segment_candidates') }}
where orders_count > 0 and days_since_last_order > 365
