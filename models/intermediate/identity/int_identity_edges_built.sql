{#-
    Edges of the identity graph: identifiers seen together on one source record are
    linked. Each record contributes a star from its smallest node to its other nodes
    (enough for connectivity, linear in the identifiers per record); duplicates dropped.
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
        node_id,
        node_key
    from {{ ref('int_identity_nodes_numbered') }}
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
