{#-
    Refresh the planner statistics of a table built inside a model (work tables of
    iterative macros): Postgres plans joins on a fresh table blindly without them.
    No-op where the engine keeps statistics itself.
-#}
{% macro analyze_relation(relation) -%}
    {{ return(adapter.dispatch('analyze_relation', 'cdp')(relation)) }}
{%- endmacro %}

{% macro default__analyze_relation(relation) -%}
{%- endmacro %}

{% macro postgres__analyze_relation(relation) -%}
    {% do run_query('analyze ' ~ relation) %}
{%- endmacro %}

{#-
    The same as a hook's SQL, for models: `+post-hook: "{{ cdp.analyze_this() }}"`.
    PostgreSQL plans a join on a table without statistics blindly (a table dbt has just
    created or appended to has none until autovacuum comes by, if it runs at all): a join
    of several such tables was measured at 322 s against 10 s with them. A view is skipped
    with a warning. Elsewhere a statement that does nothing.
-#}
{% macro analyze_this() -%}
    {{ return(adapter.dispatch('analyze_this', 'cdp')()) }}
{%- endmacro %}

{% macro default__analyze_this() -%}
    select 1 where false
{%- endmacro %}

{% macro postgres__analyze_this() -%}
    analyze {{ this }}
{%- endmacro %}
