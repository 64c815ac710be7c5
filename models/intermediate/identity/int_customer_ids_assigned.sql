{#-
    The stable customer_id of every identity node, carried over from the previous build of
    this table (read before it is replaced):

    - a component keeps the id its nodes had; when it holds nodes of several earlier
      customers (a merge) the oldest id survives;
    - when an earlier customer's nodes now fall into several components (a split, after a
      guard or blocklist change), the component with most of them keeps the id and the
      others get new ones;
    - a new component gets a new id derived from its first-seen node.

    previous_customer_id keeps the last build's id, so marts/core/customer_id_history can
    record every change.

    Incremental: the components of int_identity_scope_ids are assigned again; every other
    component keeps its id (it would win its own id back). A new id is made unique against
    the ids kept outside the scope too.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='identity_scope',
    on_schema_change='sync_all_columns',
    tags=['incremental'],
    meta={'identity_scope': {'model': 'int_identity_scope_ids', 'key': ['node_id']}},
    post_hook=["{{ cdp.index_for_joins(['node_id']) }}", "{{ cdp.index_for_joins(['node_key']) }}"],
) }}
-- depends_on: {{ ref('int_identity_scope_ids') }}
{%- set previous = cdp.identity_previous_build('int_customer_ids_assigned') %}
{%- set incremental = cdp.identity_incremental() %}

with

nodes as (
    {{ cdp.identity_scoped(ref('int_identity_nodes_numbered'), 'int_identity_scope_ids', ['node_id']) }}
),

components as (
    select * from {{ ref('int_identity_components_final') }}
),

ids_kept_elsewhere as (
    -- the ids of the components outside this build's scope
    {%- if incremental %}
    select distinct previous.customer_id
    from {{ previous }} as previous
    where not exists (
        select 1 from {{ ref('int_identity_scope_ids') }} as scope_ids
        where scope_ids.node_id = previous.node_id
    )
    {%- else %}
    select cast(null as {{ dbt.type_string() }}) as customer_id
    where false
    {%- endif %}
),

previous_ids as (
    {%- if previous is not none %}
    select
        node_key,
        customer_id as previous_customer_id,
        customer_id_created_at as previous_created_at
    from {{ previous }}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as node_key,
        cast(null as {{ dbt.type_string() }}) as previous_customer_id,
        cast(null as timestamp) as previous_created_at
    where false
    {%- endif %}
),

node_components as (
    select
        nodes.node_id,
        nodes.node_key,
        nodes.first_loaded_at,
        components.component_id,
        previous_ids.previous_customer_id,
        previous_ids.previous_created_at
    from nodes
    inner join components on nodes.node_id = components.node_id
    left join previous_ids on nodes.node_key = previous_ids.node_key
),

claims as (
    -- how many nodes of each earlier customer every component holds
    select
        component_id,
        previous_customer_id,
        min(previous_created_at) as created_at,
        count(*) as nodes_held
    from node_components
    where previous_customer_id is not null
    group by component_id, previous_customer_id
),

claims_won as (
    -- an earlier id goes to the component holding most of its nodes
    select
        *,
        row_number() over (
            partition by previous_customer_id
            order by nodes_held desc, component_id asc
        ) as claim_rank
    from claims
),

surviving_ids as (
    -- a component that won several earlier ids keeps the oldest
    select
        component_id,
        previous_customer_id as customer_id,
        created_at,
        row_number() over (
            partition by component_id
            order by created_at, previous_customer_id
        ) as age_rank
    from claims_won
    where claim_rank = 1
),

anchors as (
    select
        component_id,
        node_key as anchor_node_key,
        row_number() over (
            partition by component_id
            order by first_loaded_at, node_key
        ) as anchor_rank
    from node_components
),

component_ids as (
    select
        anchors.component_id,
        coalesce(
            surviving_ids.customer_id,
            concat('cus_', substr(md5(anchors.anchor_node_key), 1, 20))
        ) as candidate_id,
        coalesce(surviving_ids.created_at, cast({{ dbt.current_timestamp() }} as timestamp)) as customer_id_created_at,
        surviving_ids.customer_id is not null as is_carried_over
    from anchors
    left join surviving_ids
        on
            anchors.component_id = surviving_ids.component_id
            and surviving_ids.age_rank = 1
    where anchors.anchor_rank = 1
),

deduplicated_ids as (
    -- a new id equal to one still carried by another component (its anchor moved) is
    -- made unique with the component number
    select
        component_id,
        case
            when
                not is_carried_over
                and (
                    count(*) over (partition by candidate_id) > 1
                    or candidate_id in (select ids_kept_elsewhere.customer_id from ids_kept_elsewhere)
                )
                then
                    concat(candidate_id, '_', cast(component_id as {{ dbt.type_string() }}))
            else candidate_id
        end as customer_id,
        customer_id_created_at
    from component_ids
),

final as (
    select
        node_components.node_id,
        node_components.node_key,
        node_components.component_id,
        deduplicated_ids.customer_id,
        deduplicated_ids.customer_id_created_at,
        node_components.previous_customer_id,
        cast({{ dbt.current_timestamp() }} as timestamp) as assigned_at
    from node_components
    inner join deduplicated_ids on node_components.component_id = deduplicated_ids.component_id
)

select * from final
