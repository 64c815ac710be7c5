-- Every fact row whose source record carries an identifier that belongs to a customer has a
-- customer_id. (A kept value the limit rule drops, e.g. a second email of a customer who
-- may hold one, belongs to no customer: a record carrying only it has none.)
select
    events.event_id,
    events.source,
    events.source_record_id
from {{ ref('fct_events') }} as events
inner join {{ ref('int_identifiers_kept') }} as kept
    on
        events.source = kept.source
        and events.source_record_id = kept.source_record_id
inner join {{ ref('int_customer_ids_assigned') }} as assigned
    on kept.node_key = assigned.node_key
where events.customer_id is null
