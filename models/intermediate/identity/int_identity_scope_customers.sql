{#-
    The customers each identity build changed, for the marts that follow only those
    (macros/identity/customer_scope.sql). Every build appends, stamped with its built_at:
    on an incremental build, the id before and after of every node of int_identity_scope_ids
    (a customer that gained, lost or merged nodes, one that is new, one whose id is gone);
    on a full build (the first, a --full-refresh, new identity rules), one row with
    full_build = true, which makes each such mart rebuild in full. A mart reads the rows
    appended since it last applied them, so a build that stopped before the marts is made
    up by the next one. Rows every such mart has applied are deleted.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ cdp.prune_customer_scope() }}",
) }}
-- depends_on: {{ ref('int_customer_ids_assigned') }}
-- depends_on: {{ ref('int_identity_scope_ids') }}

with

{%- if cdp.identity_incremental() %}

scope_ids as (
    select * from {{ ref('int_identity_scope_ids') }}
),

customers as (
    select scope_ids.previous_customer_id as customer_id
    from scope_ids
    where scope_ids.previous_customer_id is not null
    union
    select assigned.customer_id
    from {{ ref('int_customer_ids_assigned') }} as assigned
    inner join scope_ids on assigned.node_id = scope_ids.node_id
),

changed as (
    select
        customer_id,
        false as full_build
    from customers
)

{%- else %}

changed as (
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        true as full_build
)

{%- endif %}

select
    customer_id,
    full_build,
    cast({{ dbt.current_timestamp() }} as timestamp) as built_at
from changed
