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
    Postgres has no try_cast (pg_input_is_valid arrives in 16), so the text is
    checked against a pattern for the type before casting. The patterns are
    conservative (integer accepts up to 9 digits, bigint 18, decimal(p, s) up to
    p - s integer digits, no exponent), so they never let a failing cast through,
    with one gap: dates and timestamps are checked for shape, not calendar
    validity (2026-02-30 still raises).
-#}
{% macro postgres__try_cast(expression, type) -%}
    {%- set t = type | lower | trim -%}
    {%- set re = modules.re -%}
    {%- set base = re.sub(' *[(].*$', '', t) -%}
    {%- set op = '~' -%}
    {%- set date_re = '[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])' -%}
    {%- if base in ('text', 'varchar', 'character varying', 'char', 'character', 'string') -%}
        {{ return('cast(' ~ expression ~ ' as ' ~ type ~ ')') }}
    {%- elif base in ('smallint', 'int2') -%}
        {%- set pattern = '^[-+]?[0-9]{1,4}$' -%}
    {%- elif base in ('integer', 'int', 'int4') -%}
        {%- set pattern = '^[-+]?[0-9]{1,9}$' -%}
    {%- elif base in ('bigint', 'int8') -%}
        {%- set pattern = '^[-+]?[0-9]{1,18}$' -%}
    {%- elif base in ('decimal', 'numeric') -%}
        {%- set args = re.findall('[0-9]+', t) -%}
        {%- if args | length == 0 -%}
            {%- set pattern = '^[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)$' -%}
        {%- else -%}
            {%- set int_digits = args[0] | int - (args[1] | int if args | length > 1 else 0) -%}
            {%- if int_digits > 0 -%}
                {%- set pattern = '^[-+]?([0-9]{1,' ~ int_digits ~ '}([.][0-9]*)?|[.][0-9]+)$' -%}
            {%- else -%}
                {%- set pattern = '^[-+]?0*[.][0-9]+$' -%}
            {%- endif -%}
        {%- endif -%}
    {%- elif base in ('double', 'double precision', 'float', 'float4', 'float8', 'real') -%}
        {%- set pattern = '^[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]{1,2})?$' -%}
    {%- elif base in ('boolean', 'bool') -%}
        {%- set op = '~*' -%}
        {%- set pattern = '^(true|false|t|f|yes|no|y|n|on|off|1|0)$' -%}
    {%- elif base == 'date' -%}
        {%- set pattern = '^' ~ date_re ~ '$' -%}
    {%- elif base.startswith('timestamp') -%}
        {%- set pattern = '^' ~ date_re
            ~ '([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,6})?)?)?'
            ~ '(Z|[-+][0-9]{2}(:?[0-9]{2})?)?$' -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("cdp.try_cast: no safe cast to '" ~ type ~ "' on postgres") }}
    {%- endif -%}
    {%- set as_text = 'trim(cast(' ~ expression ~ ' as text))' -%}
    (case when {{ as_text }} {{ op }} '{{ pattern }}' then cast({{ as_text }} as {{ type }}) end)
{%- endmacro %}
