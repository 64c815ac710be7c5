{#-
    Nodes of the components that broke the limit rule, without the dropped values.
    Incremental: those of int_identity_scope_nodes are recomputed.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='identity_scope',
    on_schema_change='sync_all_columns',
    tags=['incremental'],
    meta={'identity_scope': {'model': 'int_identity_scope_nodes', 'key': ['node_id']}},
    post_hook=["{{ cdp.index_for_joins(['node_id']) }}"],
) }}
-- depends_on: {{ ref('int_identity_scope_nodes') }}

with

components as (
    {{ cdp.identity_scoped(ref('int_identity_components_resolved'), 'int_identity_scope_nodes', ['node_id']) }}
),

violations as (
    {{ cdp.identity_scoped(ref('int_identifier_limits_checked'), 'int_identity_scope_nodes', ['node_id']) }}
),

affected as (
    select distinct component_id from violations
),

rechecked as (
    select components.node_id
    from components
    inner join affected on components.component_id = affected.component_id
    where components.node_id not in (select violations.node_id from violations)
)

select * from rechecked
