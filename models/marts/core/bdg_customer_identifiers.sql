{#-
    Every kept identifier value and the customer it belongs to. Incremental: the changed
    customers' rows are built again (macros/identity/customer_scope.sql).
-#}
{{ config(**cdp.customer_scope_config()) }}
-- depends_on: {{ ref('int_identity_scope_customers') }}
with

nodes as (
    select * from {{ ref('int_identity_nodes_numbered') }}
),

customer_ids as (
    {{ cdp.customer_scoped(ref('int_customer_ids_assigned')) }}
),

final as (
    select
        nodes.identifier_type,
        nodes.identifier_value,
        customer_ids.customer_id,
        nodes.record_count,
        nodes.first_seen_at,
        nodes.last_seen_at
    from nodes
    inner join customer_ids on nodes.node_key = customer_ids.node_key
)

select * from final
