{#-
    Text value at a dotted path inside a JSON column, or null when the path is
    missing or holds JSON null. Objects and arrays come back as their JSON text.

        {{ cdp.json_extract_text('context', 'page.path') }}

    column: a column or expression of the warehouse's JSON type (JSON on DuckDB,
            JSONB, JSON or JSON text on Postgres).
    path:   keys separated by dots, no leading '$' (keys cannot contain dots).
-#}
{% macro json_extract_text(column, path) -%}
    {{ return(adapter.dispatch('json_extract_text', 'cdp')(column, path)) }}
{%- endmacro %}

{#- ANSI SQL/JSON json_value (BigQuery, Trino, Postgres 17+, ...). -#}
{% macro default__json_extract_text(column, path) -%}
    json_value({{ column }}, '{{ cdp.json_path(path) }}')
{%- endmacro %}

{#- DuckDB: json_value returns JSON; json_extract_string returns text. -#}
{% macro duckdb__json_extract_text(column, path) -%}
    json_extract_string({{ column }}, '{{ cdp.json_path(path) }}')
{%- endmacro %}

{#- Postgres 15 has no json_value: the #>> text-array path operator on jsonb. -#}
{% macro postgres__json_extract_text(column, path) -%}
    (cast({{ column }} as jsonb) #>> {{ cdp.pg_json_path(path) }})
{%- endmacro %}
