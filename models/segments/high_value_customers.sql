-- Top fifth by spend with at least two orders.
select
    customer_id,
    email,
    phone,
    first_name,
    last_name,
    consent_email,
    consent_ads,
    revenue_total,
    orders_count,
    rfm_segment
from {{ ref('int_segment_candidates') }}
where monetary_score = 5 and orders_count >= 2
