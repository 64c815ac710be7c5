{#-
    Post-hook: an index on the columns BI tools join a mart on. Postgres needs one to join
    large marts quickly; DuckDB scans columns fast without, and its indexes only slow the
    build, so there it does nothing.

        config:
          post_hook: "{{ cdp.index_for_joins(['customer_id']) }}"
-#}
{% macro index_for_joins(columns) -%}
    {{ return(adapter.dispatch('index_for_joins', 'cdp')(columns)) }}
{%- endmacro %}

{% macro default__index_for_joins(columns) -%}
{%- endmacro %}

{% macro postgres__index_for_joins(columns) -%}
    create index if not exists "{{ this.identifier }}__{{ columns | join('__') }}"
    on {{ this }} ({{ columns | join(', ') }})
{%- endmacro %}
