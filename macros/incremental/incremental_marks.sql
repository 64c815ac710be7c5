{#-
    Marks of the incremental models that rebuild in full by themselves when what they are
    built from changed: one row per model in <intermediate>.incremental_marks, with the
    fingerprint of the model's SQL and of every model and seed upstream of it at its last
    build, and (for the customer-scoped marts) how far it has applied the identity changes.
    A model whose fingerprint differs from its mark is rebuilt from all its input, as
    --full-refresh would, so an edited model never keeps rows of its old SQL.
-#}

{#- The table of marks: model_name, applied_through, fingerprint. -#}
{% macro incremental_marks() -%}
    {{ return(api.Relation.create(
        database=target.database,
        schema=generate_schema_name('intermediate', none) | trim,
        identifier='incremental_marks',
    )) }}
{%- endmacro %}


{#- on-run-start: the marks table, created once per invocation before any model builds. -#}
{% macro create_incremental_marks() -%}
    {%- if execute -%}
        {%- set marks = cdp.incremental_marks() -%}
        {%- set text = dbt.type_string() -%}
        {% do run_query('create schema if not exists ' ~ marks.schema) %}
        {% do run_query(
            'create table if not exists ' ~ marks ~ ' (model_name ' ~ text
            ~ ', applied_through timestamp, fingerprint ' ~ text ~ ')') %}
    {%- endif -%}
{%- endmacro %}


{#- md5 of the checksums of this model and of every model and seed upstream of it. -#}
{% macro model_fingerprint() -%}
    {%- set ids = [model.unique_id] -%}
    {%- set parts = [] -%}
    {%- for id in ids -%}  {#- a list iterated while it grows: a walk over the ancestors -#}
        {%- set node = graph.nodes.get(id) -%}
        {%- if node is not none -%}
            {%- do parts.append(id ~ '=' ~ node.checksum.checksum) -%}
            {%- for parent in node.depends_on.nodes if parent not in ids -%}
                {%- do ids.append(parent) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(local_md5(parts | sort | join('\n'))) }}
{%- endmacro %}


{#- (applied_through, fingerprint) of this model's mark, or none before its first build. -#}
{% macro incremental_mark() -%}
    {%- set marks = cdp.incremental_marks() -%}
    {%- if adapter.get_relation(marks.database, marks.schema, marks.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set rows = run_query(
        "select applied_through, fingerprint from " ~ marks
        ~ " where model_name = '" ~ this.identifier ~ "'").rows -%}
    {{ return(rows[0] if rows | length == 1 else none) }}
{%- endmacro %}


{#- True when this model's mark holds the fingerprint it has now. -#}
{% macro fingerprint_unchanged() -%}
    {%- set mark = cdp.incremental_mark() -%}
    {{ return(mark is not none and mark[1] == cdp.model_fingerprint()) }}
{%- endmacro %}


{#- Post-hook: this model's mark, with its fingerprint and `applied_through` (SQL). -#}
{% macro record_incremental_mark(applied_through='cast(null as timestamp)') -%}
    {%- if execute -%}
        {%- set marks = cdp.incremental_marks() -%}
        {%- set name = "'" ~ this.identifier ~ "'" -%}
        {% do run_query("delete from " ~ marks ~ " where model_name = " ~ name) %}
        {% do run_query(
            "insert into " ~ marks ~ " select " ~ name ~ ", " ~ applied_through ~ ", '"
            ~ cdp.model_fingerprint() ~ "'") %}
    {%- endif -%}
    select 1 where false
{%- endmacro %}
