{#-
    Every source record that carries a kept identifier, and its customer. Incremental: the
    changed customers' records are built again (macros/identity/customer_scope.sql); a
    record's identifiers all belong to changed customers or none do.
-#}
{{ config(**cdp.customer_scope_config()) }}
-- depends_on: {{ ref('int_identity_scope_customers') }}
with

kept as (
    select * from {{ ref('int_identifiers_kept') }}
),

customer_ids as (
    {{ cdp.customer_scoped(ref('int_customer_ids_assigned')) }}
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
