{#-
    Use a model's custom schema verbatim (staging, intermediate, marts, segments)
    instead of dbt's default <target_schema>_<custom_schema>. Anything without a
    custom schema goes to the target's schema (main on DuckDB, public on Postgres).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
