{#- Every source record that carries a kept identifier, and its customer. -#}
with

kept as (
    select * from {{ ref('int_identifiers_kept') }}
),

customer_ids as (
    select * from {{ ref('int_customer_ids_assigned') }}
),

record_customers as (
    select
        kept.source,
        kept.source_record_id,
        min(customer_ids.customer_id) as customer_id,
        min(kept.seen_at) as seen_at,
        count(*) as identifier_count
    from kept
    inner join customer_ids on kept.node_key = customer_ids.node_key
    group by kept.source, kept.source_record_id
)

select * from record_customers
