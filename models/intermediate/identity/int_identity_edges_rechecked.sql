{#-
    Edges among the rechecked nodes, rebuilt from the source records without the values the
    limit rule dropped (a star per record, as in int_identity_edges_built).
-#}
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
{{ cdp.identity_star_edges(rechecked_nodes) }}
