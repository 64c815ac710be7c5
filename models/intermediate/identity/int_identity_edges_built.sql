{#-
    Edges of the identity graph: a star per source record over its kept identifiers.
    Incremental: the edges among the nodes of int_identity_scope_nodes are built again (both
    ends of an edge are in one component, so they are in the scope together).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='identity_scope',
    on_schema_change='sync_all_columns',
    tags=['incremental'],
    meta={'identity_scope': {'model': 'int_identity_scope_nodes', 'key': ['node_id'], 'columns': ['node_a']}},
    post_hook=["{{ cdp.index_for_joins(['node_a']) }}"],
) }}
-- depends_on: {{ ref('int_identity_scope_nodes') }}
{%- if cdp.identity_incremental() %}
{{ cdp.identity_star_edges(cdp.identity_scoped_nodes(ref('int_identity_nodes_numbered'))) }}
{%- else %}
{{ cdp.identity_star_edges(ref('int_identity_nodes_numbered')) }}
{%- endif %}
