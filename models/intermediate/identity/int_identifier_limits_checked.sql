{#-
    The limit rule: one customer holds at most `max_per_customer` values of an identifier
    type (seeds/identity/identity_identifier_types.csv). In a component of the first
    components pass that holds more, the most used values are kept and the others are
    dropped (one row each here); their components are then recomputed without them
    (int_identity_components_rechecked), so an over-merge through them comes apart.
    Incremental: the components of int_identity_scope_nodes are checked again.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='identity_scope',
    on_schema_change='sync_all_columns',
    tags=['incremental'],
    meta={'identity_scope': {'model': 'int_identity_scope_nodes', 'key': ['node_id']}},
    post_hook=["{{ cdp.index_for_joins(['node_id']) }}"],
) }}
-- depends_on: {{ ref('int_identity_scope_nodes') }}

with

nodes as (
    {{ cdp.identity_scoped(ref('int_identity_nodes_numbered'), 'int_identity_scope_nodes', ['node_id']) }}
),

components as (
    select * from {{ ref('int_identity_components_resolved') }}
),

identifier_types as (
    select * from {{ ref('identity_identifier_types') }}
),

ranked as (
    select
        nodes.node_id,
        nodes.node_key,
        nodes.identifier_type,
        nodes.identifier_value,
        nodes.record_count,
        components.component_id,
        identifier_types.max_per_customer,
        row_number() over (
            partition by components.component_id, nodes.identifier_type
            order by nodes.record_count desc, nodes.first_seen_at asc, nodes.node_key asc
        ) as value_rank,
        count(*) over (
            partition by components.component_id, nodes.identifier_type
        ) as values_in_component
    from nodes
    inner join components on nodes.node_id = components.node_id
    inner join identifier_types on nodes.identifier_type = identifier_types.identifier_type
    where identifier_types.max_per_customer is not null
),

violations as (
    select
        node_id,
        node_key,
        identifier_type,
        identifier_value,
        record_count,
        component_id,
        concat(
            'one customer held ', cast(values_in_component as {{ dbt.type_string() }}), ' ',
            identifier_type, ' values (at most ', cast(max_per_customer as {{ dbt.type_string() }}),
            '); the most used were kept'
        ) as guard_reason
    from ranked
    where value_rank > max_per_customer
)

select * from violations
