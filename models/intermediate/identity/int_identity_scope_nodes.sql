{#-
    Scope of an incremental identity build: the graph nodes whose component is recomputed.
    They are the nodes of the scoped records and values, and every node of a first-pass
    component (as the last build left int_identity_components_resolved) holding one of them.
    is_current: the node exists now (a node whose value a guard now drops is only deleted).
    Empty on a full build.
-#}
{{ config(materialized='table') }}
-- depends_on: {{ ref('int_identity_scope_values') }}
-- depends_on: {{ ref('int_identity_scope_records') }}
-- depends_on: {{ ref('int_identifiers_kept') }}
{%- set previous = cdp.identity_previous_build('int_identity_components_resolved') %}

with

nodes as (
    select * from {{ ref('int_identity_nodes_numbered') }}
),

{%- if cdp.identity_incremental() and previous is not none %}

touched_keys as (
    select node_key from {{ ref('int_identity_scope_values') }}
    union
    select kept.node_key
    from {{ ref('int_identifiers_kept') }} as kept
    inner join {{ ref('int_identity_scope_records') }} as scope_records
        on
            kept.source = scope_records.source
            and kept.source_record_id = scope_records.source_record_id
),

touched as (
    select {{ cdp.hash_bigint('node_key') }} as node_id from touched_keys
),

dirty_components as (
    select distinct previous.component_id
    from {{ previous }} as previous
    inner join touched on previous.node_id = touched.node_id
),

scoped as (
    select node_id from touched
    union
    select previous.node_id
    from {{ previous }} as previous
    inner join dirty_components on previous.component_id = dirty_components.component_id
),

scope as (
    select
        scoped.node_id,
        nodes.node_id is not null as is_current
    from scoped
    left join nodes on scoped.node_id = nodes.node_id
)

{%- else %}

scope as (
    select
        node_id,
        true as is_current
    from nodes
    where false
)

{%- endif %}

select * from scope
