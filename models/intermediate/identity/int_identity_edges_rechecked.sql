{#-
    Edges among the rechecked nodes, rebuilt from the source records without the dropped
    values (a star per record, as in int_identity_edges_built).
-#}
with

kept as (
    select distinct
        source,
        source_record_id,
        node_key
    from {{ ref('int_identifiers_kept') }}
),

nodes as (
    select
        numbered.node_id,
        numbered.node_key
    from {{ ref('int_identity_nodes_numbered') }} as numbered
    inner join {{ ref('int_identity_nodes_rechecked') }} as rechecked
        on numbered.node_id = rechecked.node_id
),

record_nodes as (
    select
        kept.source,
        kept.source_record_id,
        nodes.node_id,
        min(nodes.node_id) over (partition by kept.source, kept.source_record_id) as record_hub
    from kept
    inner join nodes on kept.node_key = nodes.node_key
),

edges as (
    select distinct
        record_hub as node_a,
        node_id as node_b
    from record_nodes
    where node_id <> record_hub
)

select * from edges
