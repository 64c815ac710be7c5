-- Customers who told support they want to cancel (within var cancel_intent_days of the
-- newest event) and have not ordered since: the website and the care team show them a
-- retention offer.
select
    customer_id,
    email,
    phone,
    first_name,
    last_name,
    consent_email,
    consent_sms,
    cancel_intent_at,
    orders_count,
    revenue_total,
    predicted_value_12m
from {{ ref('int_segment_candidates') }}
where intends_to_cancel
