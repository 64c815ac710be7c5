{#-
    The component of every node that survived all guards: the first pass where no limit was
    broken, the second pass where one was. Dropped values have no component.
    Incremental: the nodes of int_identity_scope_nodes are recomputed.
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

{%- for name, model in [
    ('first_pass', 'int_identity_components_resolved'),
    ('violations', 'int_identifier_limits_checked'),
    ('second_pass', 'int_identity_components_rechecked'),
] %}

{{ name }} as (
    {{ cdp.identity_scoped(ref(model), 'int_identity_scope_nodes', ['node_id']) }}
),
{%- endfor %}

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
