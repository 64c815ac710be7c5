{#-
    Marts that follow only the customers identity changed (incremental_strategy
    'customer_scope'): the bridges and the golden record.

    Every identity build appends the customers it changed to int_identity_scope_customers
    (ids before and after; one full_build row after a full build). Such a mart keeps, in
    its incremental mark (macros/incremental/incremental_marks.sql) the built_at it has
    applied up to and the fingerprint of its SQL and of every model and seed upstream of
    it. An incremental build deletes the mart's rows of the customers appended since then
    and inserts them recomputed; a customer's rows depend only on the records and identifiers of that
    customer, and every node of a changed customer is in the identity scope, so the rest is
    as a full build leaves it. A pending full_build row, a new fingerprint (the mart's SQL,
    the attribute models or the survivorship rules changed) or --full-refresh rebuilds the
    mart in full.

    A model using it: `{{ config(**cdp.customer_scope_config()) }}`,
    `-- depends_on: {{ ref('int_identity_scope_customers') }}`, and its inputs read through
    cdp.customer_scoped().
-#}

{#- The config of such a mart (it has a customer_id column). -#}
{% macro customer_scope_config() -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'customer_scope',
        'on_schema_change': 'append_new_columns',
        'tags': ['incremental'],
        'post_hook': ["{{ cdp.record_customer_scope_applied() }}"],
    }) }}
{%- endmacro %}

{#- True when this mart builds only the changed customers (false while parsing). -#}
{% macro customers_incremental() -%}
    {%- if not execute or flags.FULL_REFRESH or not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set mark = cdp.incremental_mark() -%}
    {%- if mark is none or mark[0] is none or mark[1] != cdp.model_fingerprint() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set full = run_query(
        "select count(*) from " ~ ref('int_identity_scope_customers')
        ~ " where full_build and built_at > cast('" ~ mark[0] ~ "' as timestamp)") -%}
    {{ return(full.columns[0].values()[0] == 0) }}
{%- endmacro %}


{#- The customers changed since this mart's mark, as a query of customer_id. -#}
{% macro customer_scope_sql() -%}
    select distinct scope.customer_id
    from {{ ref('int_identity_scope_customers') }} as scope
    where
        scope.customer_id is not null
        and scope.built_at > cast('{{ cdp.incremental_mark()[0] }}' as timestamp)
{%- endmacro %}


{#- `select *` from `relation`: only the changed customers' rows when incremental. -#}
{% macro customer_scoped(relation, column='customer_id') -%}
    {%- if cdp.customers_incremental() -%}
    select scoped.*
    from {{ relation }} as scoped
    where scoped.{{ column }} in ({{ cdp.customer_scope_sql() }})
    {%- else -%}
    select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}


{#- The strategy: the changed customers' rows (or all) deleted, the new ones inserted. -#}
{% macro get_incremental_customer_scope_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    {%- if cdp.customers_incremental() %}
    delete from {{ target }}
    where customer_id in ({{ cdp.customer_scope_sql() }});
    {%- else %}
    delete from {{ target }};
    {%- endif %}
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}


{#- Post-hook: the mark moves to the newest identity build, with this mart's fingerprint. -#}
{% macro record_customer_scope_applied() -%}
    {{ return(cdp.record_incremental_mark(
        '(select max(built_at) from ' ~ ref('int_identity_scope_customers') ~ ')')) }}
{%- endmacro %}


{#-
    Pre-hook of int_identity_scope_customers: the rows every customer-scoped mart has
    applied are deleted (the newest build's rows stay, so every mark keeps a row to point at).
-#}
{% macro prune_customer_scope() -%}
    {%- if execute and is_incremental() -%}
        {%- set marts = [] -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model'
                and node.config.get('incremental_strategy') == 'customer_scope' -%}
                {%- do marts.append("'" ~ node.alias ~ "'") -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set marks = cdp.incremental_marks() -%}
        {%- if marts and adapter.get_relation(marks.database, marks.schema, marks.identifier) is not none -%}
            {%- set applied = run_query(
                "select count(distinct model_name), min(applied_through) from " ~ marks
                ~ " where model_name in (" ~ marts | join(', ') ~ ")").rows[0] -%}
            {%- if applied[0] == marts | length and applied[1] is not none -%}
                {% do run_query(
                    "delete from " ~ this ~ " where built_at < cast('" ~ applied[1]
                    ~ "' as timestamp)") %}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    select 1 where false
{%- endmacro %}
