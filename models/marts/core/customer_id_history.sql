{#-
    Every change of customer_id: merges (the old id is gone, its identifiers now belong to
    an older customer) and splits (part of a customer's identifiers moved to another
    customer, after a guard or blocklist change). Append-only; one batch per build that
    changed something.
-#}
{{ config(materialized='incremental', on_schema_change='fail') }}

with

assigned as (
    select * from {{ ref('int_customer_ids_assigned') }}
),

moved as (
    select
        previous_customer_id as old_customer_id,
        customer_id as new_customer_id,
        max(assigned_at) as changed_at,
        count(*) as identifiers_moved,
        min(node_key) as example_identifier
    from assigned
    where previous_customer_id is not null and previous_customer_id <> customer_id
    group by previous_customer_id, customer_id
),

surviving as (
    select distinct customer_id from assigned
),

final as (
    select
        moved.old_customer_id,
        moved.new_customer_id,
        moved.changed_at,
        case when surviving.customer_id is null then 'merge' else 'split' end as change_type,
        case
            when surviving.customer_id is null
                then concat(
                    'merged into the older customer ', moved.new_customer_id,
                    ': their identifiers are now linked (', cast(moved.identifiers_moved as {{ dbt.type_string() }}),
                    ' identifiers moved, e.g. ', moved.example_identifier, ')'
                )
            else concat(
                cast(moved.identifiers_moved as {{ dbt.type_string() }}),
                ' identifiers are no longer linked to ', moved.old_customer_id,
                ' (a guard, blocklist or source change), e.g. ', moved.example_identifier
            )
        end as reason,
        moved.identifiers_moved
    from moved
    left join surviving on moved.old_customer_id = surviving.customer_id
)

select * from final
{% if is_incremental() %}
where changed_at > (select coalesce(max(changed_at), cast('1900-01-01' as timestamp)) from {{ this }})
{% endif %}
