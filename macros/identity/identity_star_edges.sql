{#-
    Edges of the identity graph among `nodes` (a relation or subquery with node_id and
    node_key): identifiers seen together on one source record are linked, as a star from
    the record's smallest node to its other nodes (enough for connectivity, linear in the
    identifiers per record). Duplicates dropped.
-#}
{% macro identity_star_edges(nodes) -%}
with

kept as (
    select distinct
        source,
        source_record_id,
        node_key
    from {{ ref('int_identifiers_kept') }}
),

record_nodes as (
    select
        kept.source,
        kept.source_record_id,
        nodes.node_id,
        min(nodes.node_id) over (partition by kept.source, kept.source_record_id) as record_hub
    from kept
    inner join {{ nodes }} as nodes on kept.node_key = nodes.node_key
),

edges as (
    select distinct
        record_hub as node_a,
        node_id as node_b
    from record_nodes
    where node_id <> record_hub
)

select * from edges
{%- endmacro %}
