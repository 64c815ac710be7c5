{#-
    JSON value at a dotted path inside a JSON column (an object or array stays JSON), or
    null when the path is missing.

        {{ cdp.json_extract_json('payload', 'traits') }}

    column: a column or expression of the warehouse's JSON type (JSON on DuckDB,
            JSONB, JSON or JSON text on Postgres).
    path:   keys separated by dots, no leading '$' (keys cannot contain dots).
-#}
{% macro json_extract_json(column, path) -%}
    {{ return(adapter.dispatch('json_extract_json', 'cdp')(column, path)) }}
{%- endmacro %}

{#- ANSI SQL/JSON json_query (BigQuery, Trino, Postgres 17+, ...). -#}
{% macro default__json_extract_json(column, path) -%}
    json_query({{ column }}, '{{ cdp.json_path(path) }}')
{%- endmacro %}

{% macro duckdb__json_extract_json(column, path) -%}
    json_extract({{ column }}, '{{ cdp.json_path(path) }}')
{%- endmacro %}

{#- Postgres 15: the #> path operator on jsonb. -#}
{% macro postgres__json_extract_json(column, path) -%}
    (cast({{ column }} as jsonb) #> {{ cdp.pg_json_path(path) }})
{%- endmacro %}
