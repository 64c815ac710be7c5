{#-
    Scope of an incremental identity build for customer ids: the nodes of
    int_identity_scope_nodes, and every node of a customer whose id changed in the last build
    (so previous_customer_id becomes that build's id again), with the id each had in the
    last build (null for a new node), which int_identity_scope_customers passes on to the
    marts. Empty on a full build.
-#}
{{ config(materialized='table') }}
{%- set previous = cdp.identity_previous_build('int_customer_ids_assigned') %}

with

scope_nodes as (
    select node_id from {{ ref('int_identity_scope_nodes') }}
),

{%- if cdp.identity_incremental() and previous is not none %}

moved_components as (
    select distinct component_id
    from {{ previous }}
    where previous_customer_id <> customer_id
),

scope as (
    select node_id from scope_nodes
    union
    select previous.node_id
    from {{ previous }} as previous
    inner join moved_components on previous.component_id = moved_components.component_id
),

final as (
    select
        scope.node_id,
        previous.customer_id as previous_customer_id
    from scope
    left join {{ previous }} as previous on scope.node_id = previous.node_id
)

{%- else %}

final as (
    select
        node_id,
        cast(null as {{ dbt.type_string() }}) as previous_customer_id
    from scope_nodes
)

{%- endif %}

select * from final
