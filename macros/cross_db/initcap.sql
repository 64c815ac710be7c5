{#-
    Each word with an upper-case first letter and the rest lower case
    ('mARIE-claire o''neil' -> 'Marie-claire O''neil'). Words are split on spaces.
-#}
{% macro initcap(expression) -%}
    {{ return(adapter.dispatch('initcap', 'cdp')(expression)) }}
{%- endmacro %}

{% macro default__initcap(expression) -%}
    initcap({{ expression }})
{%- endmacro %}

{% macro duckdb__initcap(expression) -%}
    array_to_string(
        list_transform(
            string_split(lower({{ expression }}), ' '),
            lambda w: concat(upper(left(w, 1)), substr(w, 2))
        ),
        ' '
    )
{%- endmacro %}
