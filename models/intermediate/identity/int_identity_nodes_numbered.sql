{#-
    One row per node of the identity graph (a kept identifier value) with a number: a hash
    of the key (cdp.hash_bigint), the same in every build. A fixed pseudo-random order also
    lets the components step converge in O(log n) rounds on any graph shape (labels ordered
    along the graph, a chain numbered in order, would take one round per hop). Two keys with
    one number fail the unique test on node_id.

    Incremental: the nodes of int_identity_scope_values are recomputed.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='identity_scope',
    on_schema_change='sync_all_columns',
    tags=['incremental'],
    meta={'identity_scope': {'model': 'int_identity_scope_values', 'key': ['node_key']}},
    post_hook=["{{ cdp.index_for_joins(['node_key']) }}", "{{ cdp.index_for_joins(['node_id']) }}"],
) }}
-- depends_on: {{ ref('int_identity_scope_values') }}

with

kept as (
    {{ cdp.identity_scoped(ref('int_identifiers_kept'), 'int_identity_scope_values', ['node_key']) }}
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
        {{ cdp.hash_bigint('node_key') }} as node_id,
        *
    from nodes
)

select * from numbered
