{#-
    A 60-bit integer from the md5 of a text expression: the same number on every engine,
    stable across builds (used as the identity graph's node numbers).
-#}
{% macro hash_bigint(expression) -%}
    {{ return(adapter.dispatch('hash_bigint', 'cdp')(expression)) }}
{%- endmacro %}

{% macro default__hash_bigint(expression) -%}
    cast(concat('0x', substr(md5({{ expression }}), 1, 15)) as bigint)
{%- endmacro %}

{% macro postgres__hash_bigint(expression) -%}
    cast(cast(concat('x', substr(md5({{ expression }}), 1, 15)) as bit(60)) as bigint)
{%- endmacro %}
