{#-
    Edges of the identity graph among `nodes` (a relation or subquery with node_id and
    node_key): identifiers seen together on one source record are linked, as a star from
    the record's smallest node to its other nodes (enough for connectivity, linear in the
    identifiers per record). Duplicates dropped. The kept identifiers are joined to `nodes`
    before anything else, so a small set of nodes (an incremental build's scope) reads only
    its own records' rows.
-#}
{% macro identity_star_edges(nodes) -%}
with

record_nodes as (
    select distinct
        kept.source,
        kept.source_record_id,
        nodes.node_id
    from {{ ref('int_identifiers_kept') }} as kept
    inner join {{ nodes }} as nodes on kept.node_key = nodes.node_key
),

hubs as (
    select
        node_id,
        min(node_id) over (partition by source, source_record_id) as record_hub
    from record_nodes
),

edges as (
    select distinct
        record_hub as node_a,
        node_id as node_b
    from hubs
    where node_id <> record_hub
)

select * from edges
{%- endmacro %}
