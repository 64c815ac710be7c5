{#-
    One row per node of the identity graph (a kept identifier value) with a number.
    Numbers follow a hash of the key, a fixed pseudo-random order: the components step
    converges in O(log n) rounds on any graph shape only when labels are not ordered
    along the graph (a chain numbered in order would take one round per hop).
-#}
with

kept as (
    select * from {{ ref('int_identifiers_kept') }}
),

nodes as (
    select
        node_key,
        min(identifier_type) as identifier_type,
        min(identifier_value) as identifier_value,
        count(*) as record_count,
        min(seen_at) as first_seen_at,
        max(seen_at) as last_seen_at,
        min(loaded_at) as first_loaded_at
    from kept
    group by node_key
),

numbered as (
    select
        row_number() over (order by md5(node_key), node_key) as node_id,
        *
    from nodes
)

select * from numbered
