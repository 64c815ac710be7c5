{#-
    SQL that creates (or replaces) a scalar SQL function `name` (schema.function) whose
    value is the scalar query `body`, which names its arguments by name.

        arguments: [(name, type), ...] with portable types (dbt.type_string() ...)
        returns:   the type of the value

    DuckDB has no SQL functions but macros, which it expands where they are called (its
    macros are untyped); PostgreSQL gets a STABLE function in SQL (it may read tables).
    Name the arguments unlike any column the body reads: the engines would not agree on
    which of the two such a name means.
-#}
{% macro create_scalar_function(name, arguments, returns, body) -%}
    {{ return(adapter.dispatch('create_scalar_function', 'cdp')(name, arguments, returns, body)) }}
{%- endmacro %}

{% macro default__create_scalar_function(name, arguments, returns, body) -%}
    create or replace function {{ name }}(
        {%- for arg_name, arg_type in arguments %}{{ arg_name }} {{ arg_type }}{{ ", " if not loop.last }}{% endfor -%}
    )
    returns {{ returns }}
    language sql
    stable
    as $function$
        {{ body }}
    $function$
{%- endmacro %}

{% macro duckdb__create_scalar_function(name, arguments, returns, body) -%}
    create or replace macro {{ name }}(
        {%- for arg_name, arg_type in arguments %}{{ arg_name }}{{ ", " if not loop.last }}{% endfor -%}
    ) as (
        {{ body }}
    )
{%- endmacro %}
