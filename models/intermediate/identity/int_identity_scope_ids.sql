{#-
    Scope of an incremental identity build for customer ids: the nodes of
    int_identity_scope_nodes, and every node of a customer whose id changed in the last build
    (so previous_customer_id becomes that build's id again). Empty on a full build.
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
)

{%- else %}

scope as (
    select node_id from scope_nodes
)

{%- endif %}

select * from scope
