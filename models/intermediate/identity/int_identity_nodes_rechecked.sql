{#- Nodes of the components that broke the limit rule, without the dropped values. -#}
with

components as (
    select * from {{ ref('int_identity_components_resolved') }}
),

violations as (
    select * from {{ ref('int_identifier_limits_checked') }}
),

affected as (
    select distinct component_id from violations
),

rechecked as (
    select components.node_id
    from components
    inner join affected on components.component_id = affected.component_id
    where components.node_id not in (select violations.node_id from violations)
)

select * from rechecked
