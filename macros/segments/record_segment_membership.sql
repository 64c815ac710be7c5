{#-
    Post-hook of every segment model: keeps the membership history of the segment in
    segments.segment_memberships (customer_id, entered_at, exited_at; one open row per
    current member) and logs the build in segments.segment_runs (size, entered, exited).
    A customer who leaves and comes back gets a new row. Runs inside the model's build,
    so any new segment model is tracked without further code.
-#}
{#-
    on-run-start: the two history tables, created once per invocation before any segment
    builds (segments build in parallel on Postgres, and concurrent CREATE ... IF NOT EXISTS
    of one table can collide there).
-#}
{% macro create_segment_history_tables() -%}
    {%- if execute -%}
        {%- set schema = generate_schema_name('segments', none) | trim -%}
        {%- set text = dbt.type_string() -%}
        {% do run_query('create schema if not exists ' ~ schema) %}
        {% do run_query(
            'create table if not exists ' ~ schema ~ '.segment_memberships (segment_name ' ~ text
            ~ ', customer_id ' ~ text ~ ', entered_at timestamp, exited_at timestamp)') %}
        {% do run_query(
            'create table if not exists ' ~ schema ~ '.segment_runs (segment_name ' ~ text
            ~ ', run_at timestamp, size bigint, entered bigint, exited bigint)') %}
    {%- endif -%}
{%- endmacro %}


{% macro record_segment_membership() -%}
    {%- if execute and model.resource_type == 'model' -%}
        {%- set schema = this.schema -%}
        {%- set memberships = api.Relation.create(database=this.database, schema=schema, identifier='segment_memberships') -%}
        {%- set runs = api.Relation.create(database=this.database, schema=schema, identifier='segment_runs') -%}
        {%- set now = "cast(" ~ dbt.current_timestamp() ~ " as timestamp)" -%}
        {%- set name = "'" ~ this.identifier ~ "'" -%}
        {%- set exited -%}
            update {{ memberships }}
            set exited_at = {{ now }}
            where segment_name = {{ name }}
                and exited_at is null
                and customer_id not in (select customer_id from {{ this }} where customer_id is not null)
        {%- endset -%}
        {%- set entered -%}
            insert into {{ memberships }} (segment_name, customer_id, entered_at, exited_at)
            select distinct {{ name }}, current_members.customer_id, {{ now }}, cast(null as timestamp)
            from {{ this }} as current_members
            where current_members.customer_id is not null
                and not exists (
                    select 1 from {{ memberships }} as open_rows
                    where open_rows.segment_name = {{ name }}
                        and open_rows.customer_id = current_members.customer_id
                        and open_rows.exited_at is null
                )
        {%- endset -%}
        {%- set counts = run_query(
            "select count(*) from " ~ memberships ~ " where segment_name = " ~ name
            ~ " and exited_at is null and customer_id not in (select customer_id from " ~ this
            ~ " where customer_id is not null)") -%}
        {%- set n_exited = counts.columns[0].values()[0] -%}
        {% do run_query(exited) %}
        {%- set before = run_query("select count(*) from " ~ memberships ~ " where segment_name = " ~ name) -%}
        {% do run_query(entered) %}
        {%- set after = run_query("select count(*) from " ~ memberships ~ " where segment_name = " ~ name) -%}
        {%- set n_entered = after.columns[0].values()[0] - before.columns[0].values()[0] -%}
        {% do run_query(
            "insert into " ~ runs ~ " select " ~ name ~ ", " ~ now ~ ", (select count(distinct customer_id) from " ~ this
            ~ "), " ~ n_entered ~ ", " ~ n_exited) %}
    {%- endif -%}
{%- endmacro %}
