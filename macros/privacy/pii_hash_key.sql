{#-
    The secret the BI views hash personal data with (macros/privacy/masked_mart.sql): one
    random value per warehouse, in <intermediate>.pii_hash_key, which no role but the
    pipeline's may read. Drawn once and kept, so a value hashes the same in every view and
    every build, and a BI user, who can read the views' SQL but not this table, cannot hash
    guesses (a phone number, a birth date, a postal code) to find whose value a hash is.
-#}

{#- The table of the key: one row, hash_key (64 hex digits). -#}
{% macro pii_hash_key() -%}
    {{ return(api.Relation.create(
        database=target.database,
        schema=generate_schema_name('intermediate', none) | trim,
        identifier='pii_hash_key',
    )) }}
{%- endmacro %}


{#- on-run-start: the table and its key, drawn on the first run only. -#}
{% macro create_pii_hash_key() -%}
    {%- if execute -%}
        {%- set key = cdp.pii_hash_key() -%}
        {%- set text = dbt.type_string() -%}
        {%- set uuid_hex = "replace(cast(gen_random_uuid() as " ~ text ~ "), '-', '')" -%}
        {% do run_query('create schema if not exists ' ~ key.schema) %}
        {% do run_query('create table if not exists ' ~ key ~ ' (hash_key ' ~ text ~ ')') %}
        {% do run_query(
            'insert into ' ~ key ~ ' (hash_key) select ' ~ uuid_hex ~ ' || ' ~ uuid_hex
            ~ ' where not exists (select 1 from ' ~ key ~ ')') %}
    {%- endif -%}
{%- endmacro %}
