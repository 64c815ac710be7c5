{#-
    Edges among the rechecked nodes, rebuilt from the source records without the values the
    limit rule dropped (a star per record, as in int_identity_edges_built).
    Incremental: those among the nodes of int_identity_scope_nodes are built again.
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
{%- set rechecked_nodes -%}
(
    select
        numbered.node_id,
        numbered.node_key
    from {{ ref('int_identity_nodes_numbered') }} as numbered
    inner join {{ ref('int_identity_nodes_rechecked') }} as rechecked
        on numbered.node_id = rechecked.node_id
)
{%- endset -%}
{%- if cdp.identity_incremental() %}
{{ cdp.identity_star_edges(cdp.identity_scoped_nodes(rechecked_nodes)) }}
{%- else %}
{{ cdp.identity_star_edges(rechecked_nodes) }}
{%- endif %}
