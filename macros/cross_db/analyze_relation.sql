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
