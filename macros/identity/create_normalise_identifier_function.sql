{#-
    on-run-end: the warehouse function

        <intermediate>.normalise_identifier(identifier_type, raw_value, country) -> text

    in the schema of int_identifiers_normalised, with the same rule as that model
    (macros/identity/normalise_identifier.sql, and the phone's country looked up in the
    same seed with the same key), so that what `cdp explain` normalises is what the
    models normalised. Created at the end of every invocation, so it follows the rule and
    the vars of the last build. It reads seeds.country_calling_codes: until that seed is
    in the warehouse there is nothing to create (PostgreSQL checks the tables a function
    reads when it is created). The digits of a phone are computed once (the profile API
    calls the function per request, and DuckDB compiles each copy of a regular expression
    whenever it plans a query).
-#}
{% macro create_normalise_identifier_function() -%}
    {%- if execute -%}
        {%- set seed = graph.nodes.get('seed.cdp.country_calling_codes') -%}
        {%- set model = graph.nodes.get('model.cdp.int_identifiers_normalised') -%}
        {%- set codes = adapter.get_relation(seed.database, seed.schema, seed.alias) if seed and model else none -%}
        {%- if codes is not none -%}
            {#- no database name: on DuckDB it is the file's name, which may change -#}
            {%- set codes = codes.include(database=false) -%}
            {%- set text = dbt.type_string() -%}
            {%- set body -%}
                select
                    {{ cdp.normalise_identifier(
                        'identifier_type', 'raw_value', 'calling_codes.calling_code', 'calling_codes.trunk_prefix',
                        'arguments.phone_digits'
                    ) }}
                from (select {{ cdp.phone_digits('raw_value') }} as phone_digits) as arguments
                left join {{ codes }} as calling_codes
                    on calling_codes.country_code = {{ cdp.identity_phone_country('country') }}
            {%- endset -%}
            {% do run_query('create schema if not exists ' ~ model.schema) %}
            {% do run_query(cdp.create_scalar_function(
                model.schema ~ '.normalise_identifier',
                [('identifier_type', text), ('raw_value', text), ('country', text)],
                text,
                body
            )) %}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
