{#-
    Connected components of the identity graph: each node with the component it belongs
    to (the smallest node_id in it). See macros/identity/connected_components.sql.
    Incremental: the components of int_identity_scope_nodes are computed again, from those
    nodes and their edges alone (a closed part of the graph).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='identity_scope',
    on_schema_change='sync_all_columns',
    tags=['incremental'],
    meta={'identity_scope': {'model': 'int_identity_scope_nodes', 'key': ['node_id']}},
    post_hook=[
        "{{ cdp.connected_components_cleanup() }}",
        "{{ cdp.index_for_joins(['node_id']) }}",
        "{{ cdp.index_for_joins(['component_id']) }}",
    ],
) }}
-- depends_on: {{ ref('int_identity_scope_nodes') }}

with

components as (
    {%- if cdp.identity_incremental() %}
    {{ cdp.connected_components(
        cdp.identity_scoped_nodes(ref('int_identity_nodes_numbered')) ~ ' as scoped_nodes',
        cdp.identity_scoped_edges(ref('int_identity_edges_built')) ~ ' as scoped_edges') }}
    {%- else %}
    {{ cdp.connected_components(ref('int_identity_nodes_numbered'), ref('int_identity_edges_built')) }}
    {%- endif %}
)

select * from components
