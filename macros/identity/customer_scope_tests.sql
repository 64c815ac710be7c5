{#-
    dbt tests of the customer-scoped marts check the customers identity changed since their
    last passing run, as their builds rebuild only those (a mart's rows of other customers
    are as they were when last tested). Every generic test of such a mart reads, instead of
    the whole table, the rows of the customers int_identity_scope_customers lists after the
    mart's tested mark; the whole table before the first passing run, after a full identity
    build, or when that list no longer holds every build since (pruned).

    The mark (<model>:tested in intermediate.incremental_marks) moves at the end of a dbt
    invocation in which every test of the mart ran and passed (or warned), to the identity
    build the mart had applied; after a failure the same customers are tested again.
-#}

{#- dbt's hook for the `where` config, with the customer scope added for those marts. -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set filters = [] -%}
    {%- if config.get('where', '') -%}
        {%- do filters.append(config.get('where')) -%}
    {%- endif -%}
    {%- set scope = cdp.tested_customer_scope(relation) -%}
    {%- if scope -%}
        {%- do filters.append(scope) -%}
    {%- endif -%}
    {%- if filters -%}
        {%- set filtered -%}
            (select * from {{ relation }} where ({{ filters | join(') and (') }})) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}


{#- The mart a test is attached to, when it is customer-scoped and `relation` is it. -#}
{% macro tested_customer_scoped_mart(relation) -%}
    {%- set node = graph.nodes.get(model.get('attached_node') or '') if execute else none -%}
    {%- if node is none or node.config.get('incremental_strategy') != 'customer_scope'
        or node.alias | lower != relation.identifier | lower -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(node) }}
{%- endmacro %}


{#- The condition on customer_id for a test of `relation`, or '' (the whole table). -#}
{% macro tested_customer_scope(relation) -%}
    {%- set mart = cdp.tested_customer_scoped_mart(relation) -%}
    {%- set marks = cdp.incremental_marks() -%}
    {%- set scope = cdp.identity_previous_build('int_identity_scope_customers') if mart is not none else none -%}
    {%- if scope is none
        or adapter.get_relation(marks.database, marks.schema, marks.identifier) is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tested = run_query(
        "select applied_through from " ~ marks ~ " where model_name = '"
        ~ mart.alias ~ ":tested'").columns[0].values() -%}
    {%- if tested | length != 1 or tested[0] is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- set since = "cast('" ~ tested[0] ~ "' as timestamp)" -%}
    {%- set state = run_query(
        "select min(built_at), count(case when full_build and built_at > " ~ since
        ~ " then 1 end) from " ~ scope).rows[0] -%}
    {%- if state[0] is none or state[0] > tested[0] or state[1] > 0 -%}
        {{ return('') }}
    {%- endif -%}
    {{ return(
        "customer_id in (select customer_id from " ~ scope ~ " where built_at > " ~ since
        ~ " and customer_id is not null)") }}
{%- endmacro %}


{#-
    on-run-end: the tested mark of each customer-scoped mart whose every test ran in this
    invocation and passed or warned moves to the identity build the mart has applied.
-#}
{% macro record_customer_scope_tested(results) -%}
    {%- if execute -%}
        {%- set outcome = {} -%}
        {%- for result in results if result.node.resource_type == 'test' -%}
            {%- do outcome.update({result.node.unique_id: result.status | string}) -%}
        {%- endfor -%}
        {%- set marks = cdp.incremental_marks() -%}
        {%- for mart in graph.nodes.values()
            if mart.resource_type == 'model'
            and mart.config.get('incremental_strategy') == 'customer_scope' -%}
            {%- set ns = namespace(tested=false, passed=true) -%}
            {%- for test in graph.nodes.values() if test.resource_type == 'test'
                and test.get('attached_node') == mart.unique_id -%}
                {%- set ns.tested = true -%}
                {%- if outcome.get(test.unique_id) not in ['pass', 'warn'] -%}
                    {%- set ns.passed = false -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if ns.tested and ns.passed -%}
                {% do run_query(
                    "delete from " ~ marks ~ " where model_name = '" ~ mart.alias ~ ":tested'") %}
                {% do run_query(
                    "insert into " ~ marks ~ " select '" ~ mart.alias ~ ":tested', applied_through, "
                    ~ "fingerprint from " ~ marks ~ " where model_name = '" ~ mart.alias ~ "'") %}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
