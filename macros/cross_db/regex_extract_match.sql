{#-
    The text of `expression` that `pattern` (a regular expression that cannot match empty
    text, with no capturing groups: write `(?:...)`) matches, or null when it does not
    match. Anchor the pattern (`^...$`) to return the whole value or null.

        {{ cdp.regex_extract_match('phone', "'^[+][0-9]{8,15}$'") }}
-#}
{% macro regex_extract_match(expression, pattern) -%}
    {{ return(adapter.dispatch('regex_extract_match', 'cdp')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regex_extract_match(expression, pattern) -%}
    substring({{ expression }} from {{ pattern }})
{%- endmacro %}

{% macro duckdb__regex_extract_match(expression, pattern) -%}
    nullif(regexp_extract({{ expression }}, {{ pattern }}), '')
{%- endmacro %}
