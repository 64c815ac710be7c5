{#-
    True when `pattern` (a regular expression) matches anywhere in `expression`.
    DuckDB's `~` is a full match, Postgres's a partial one, so the portable spelling
    goes through this macro.

        {{ cdp.regex_matches('email', "'@example[.]com$'") }}
-#}
{% macro regex_matches(expression, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'cdp')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regex_matches(expression, pattern) -%}
    ({{ expression }} ~ {{ pattern }})
{%- endmacro %}

{% macro duckdb__regex_matches(expression, pattern) -%}
    regexp_matches({{ expression }}, {{ pattern }})
{%- endmacro %}
