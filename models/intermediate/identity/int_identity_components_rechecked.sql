{#-
    Components of the rechecked nodes (second pass after the limit rule). Incremental: the
    rechecked nodes of int_identity_scope_nodes are computed again.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='identity_scope',
    on_schema_change='sync_all_columns',
    tags=['incremental'],
    meta={'identity_scope': {'model': 'int_identity_scope_nodes', 'key': ['node_id']}},
    post_hook=["{{ cdp.connected_components_cleanup() }}", "{{ cdp.index_for_joins(['node_id']) }}"],
) }}
-- depends_on: {{ ref('int_identity_scope_nodes') }}

with

components as (
    {%- if cdp.identity_incremental() %}
    {{ cdp.connected_components(
        cdp.identity_scoped_nodes(ref('int_identity_nodes_rechecked')) ~ ' as scoped_nodes',
        cdp.identity_scoped_edges(ref('int_identity_edges_rechecked')) ~ ' as scoped_edges') }}
    {%- else %}
    {{ cdp.connected_components(ref('int_identity_nodes_rechecked'), ref('int_identity_edges_rechecked')) }}
    {%- endif %}
)

select * from components
