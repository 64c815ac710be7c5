{#-
    Cast that yields null instead of failing when the value does not convert,
    for values from loosely typed places (JSON properties, free text).

        {{ cdp.try_cast(cdp.json_extract_text('properties', 'revenue'), 'decimal(18, 2)') }}

    expression: any SQL expression (it is cast to text first where needed).
    type:       the target SQL type, written portably: integer, bigint, smallint,
                decimal(p, s) / numeric(p, s), double, real, boolean, date,
                timestamp, varchar / text.
-#}
{% macro try_cast(expression, type) -%}
    {{ return(adapter.dispatch('try_cast', 'cdp')(expression, type)) }}
{%- endmacro %}

{#- Adapters whose dbt.safe_cast is a real safe cast (BigQuery, Snowflake, Spark, ...). -#}
{% macro default__try_cast(expression, type) -%}
    {{ dbt.safe_cast(expression, type) }}
{%- endmacro %}

{% macro duckdb__try_cast(expression, type) -%}
    try_cast({{ expression }} as {{ type }})
{%- endmacro %}

{#-
    Postgres has no try_cast (pg_input_is_valid arrives in 16): the text is
    matched against a pattern for the type, numbers are range-checked, and only
    then cast. The results follow DuckDB's try_cast: numbers may use an
    exponent ('1e3'), text with decimals rounds to integer types half away from
    zero ('19.5' -> 20). Gap: dates and timestamps are checked for shape, not
    calendar validity ('2026-02-30' still raises).
-#}
{% macro postgres__try_cast(expression, type) -%}
    {%- set t = type | lower | trim -%}
    {%- set re = modules.re -%}
    {%- set base = re.sub(' *[(].*$', '', t) -%}
    {%- set as_text = 'trim(cast(' ~ expression ~ ' as text))' -%}
    {%- set number_re = '^[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]{1,2})?$' -%}
    {%- set date_re = '[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])' -%}
    {%- set time_re = '([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,6})?)?)?' -%}
    {%- set zone_re = '(Z|[-+][0-9]{2}(:?[0-9]{2})?)?' -%}
    {%- set integer_limits = {
        'smallint': '32767', 'int2': '32767',
        'integer': '2147483647', 'int': '2147483647', 'int4': '2147483647',
        'bigint': '9e18', 'int8': '9e18'} -%}

    {%- if base in ('text', 'varchar', 'character varying', 'char', 'character', 'string') -%}
        cast({{ expression }} as {{ type }})

    {%- elif base in integer_limits -%}
        (case when {{ as_text }} ~ '{{ number_re }}' then
            case when abs(cast({{ as_text }} as double precision)) < {{ integer_limits[base] }}
                then cast(round(cast({{ as_text }} as numeric)) as {{ type }}) end
        end)

    {%- elif base in ('decimal', 'numeric') -%}
        {%- set args = re.findall('[0-9]+', t) -%}
        {%- if args | length == 0 -%}
            (case when {{ as_text }} ~ '{{ number_re }}' then cast({{ as_text }} as {{ type }}) end)
        {%- else -%}
            {%- set int_digits = args[0] | int - (args[1] | int if args | length > 1 else 0) -%}
            (case when {{ as_text }} ~ '{{ number_re }}' then
                case when abs(cast({{ as_text }} as double precision)) < 1e{{ int_digits }}
                    then cast({{ as_text }} as {{ type }}) end
            end)
        {%- endif -%}

    {%- elif base in ('double', 'double precision', 'float', 'float4', 'float8', 'real') -%}
        (case when {{ as_text }} ~ '{{ number_re }}' then cast({{ as_text }} as {{ type }}) end)

    {%- elif base in ('boolean', 'bool') -%}
        (case when {{ as_text }} ~* '^(true|false|t|f|yes|no|y|n|on|off|1|0)$'
            then cast({{ as_text }} as {{ type }}) end)

    {%- elif base == 'date' or base.startswith('timestamp') -%}
        (case when {{ as_text }} ~ '^{{ date_re }}{{ time_re }}{{ zone_re }}$'
            then cast({{ as_text }} as {{ type }}) end)

    {%- else -%}
        {{ exceptions.raise_compiler_error("cdp.try_cast: no safe cast to '" ~ type ~ "' on postgres") }}
    {%- endif -%}
{%- endmacro %}
