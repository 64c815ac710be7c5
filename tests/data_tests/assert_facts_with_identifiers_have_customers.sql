-- Every fact row whose source record carries a kept identifier has a customer_id.
select
    events.event_id,
    events.source,
    events.source_record_id
from {{ ref('fct_events') }} as events
inner join {{ ref('int_identifiers_kept') }} as kept
    on
        events.source = kept.source
        and events.source_record_id = kept.source_record_id
where events.customer_id is null
