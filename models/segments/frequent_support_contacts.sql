-- Customers who contacted support at least twice.
select
    customer_id,
    email,
    phone,
    first_name,
    last_name,
    consent_email,
    consent_sms,
    support_contacts,
    support_satisfaction_avg
from {{ ref('int_segment_candidates') }}
where support_contacts >= 2
