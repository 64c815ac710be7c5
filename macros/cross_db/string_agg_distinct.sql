{#- The distinct values of a group joined by a delimiter, in sorted order. -#}
{% macro string_agg_distinct(expression, delimiter) -%}
    {{ return(adapter.dispatch('string_agg_distinct', 'cdp')(expression, delimiter)) }}
{%- endmacro %}

{% macro default__string_agg_distinct(expression, delimiter) -%}
    string_agg(distinct {{ expression }}, {{ delimiter }} order by {{ expression }})
{%- endmacro %}
