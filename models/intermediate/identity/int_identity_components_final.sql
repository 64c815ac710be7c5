{#-
    The component of every node that survived all guards: the first pass where no limit was
    broken, the second pass where one was. Dropped values have no component.
-#}
with

first_pass as (
    select * from {{ ref('int_identity_components_resolved') }}
),

violations as (
    select * from {{ ref('int_identifier_limits_checked') }}
),

second_pass as (
    select * from {{ ref('int_identity_components_rechecked') }}
),

unaffected as (
    select
        node_id,
        component_id
    from first_pass
    where component_id not in (select violations.component_id from violations)
),

final as (
    select * from unaffected
    union all
    select * from second_pass
)

select * from final
