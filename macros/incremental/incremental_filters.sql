{#-
    Filters for incremental models: on an incremental build only rows loaded after the
    newest row already in the model are read. A full refresh (or the first build) reads
    everything, so both paths give the same rows.
-#}

{#-
    True when this model builds incrementally: it exists, this is no --full-refresh and,
    for the staging tables (strategy 'new_loads'), its SQL and inputs are those of its last
    build (see incremental_marks.sql). False while parsing and in unit tests (no `this`).
-#}
{% macro builds_incrementally() -%}
    {%- if not execute or this is none or flags.FULL_REFRESH or not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if config.get('incremental_strategy') == 'new_loads' -%}
        {{ return(cdp.fingerprint_unchanged()) }}
    {%- endif -%}
    {{ return(true) }}
{%- endmacro %}


{#- `where <column> > newest <column> in this model` (optionally among rows matching `among`). -#}
{% macro loaded_since_last_build(column='_loaded_at', this_column=none, among=none) -%}
    {%- if cdp.builds_incrementally() -%}
    {{ column }} > (
        select coalesce(max({{ this_column or column }}), cast('1900-01-01' as timestamp))
        from {{ this }}
        {%- if among %} where {{ among }}{% endif %}
    )
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}


{#-
    The first loaded row of each source record in `relation` (see first_load_per_record),
    without the records this model holds already: with loaded_since_last_build on the
    source, a build appends the records first seen in the new loads, as a full build keeps
    the first loaded copy of every record.
-#}
{% macro first_loads_not_built(relation, wide_rows=false) -%}
    {%- if cdp.builds_incrementally() -%}
    {%- set record_id = cdp.staged_record_id(model) -%}
    select first_loaded.*
    from ({{ cdp.first_load_per_record(relation, wide_rows=wide_rows) }}) as first_loaded
    where not exists (
        select 1 from {{ this }} as built
        where
        {%- for column in record_id %}
            built.{{ column }} = first_loaded.{{ column }}{{ ' and' if not loop.last }}
        {%- endfor %}
    )
    {%- else -%}
    {{ cdp.first_load_per_record(relation, wide_rows=wide_rows) }}
    {%- endif -%}
{%- endmacro %}


{#-
    The config of an append-only model outside staging (staging states the same keys for
    its whole folder in dbt_project.yml, where YAML cannot call a macro).
-#}
{% macro new_loads_config() -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'new_loads',
        'on_schema_change': 'sync_all_columns',
        'tags': ['incremental'],
        'post_hook': ["{{ cdp.record_incremental_mark() }}"],
    }) }}
{%- endmacro %}


{#-
    The strategy of the staging tables: append the new rows; when the model's fingerprint
    changed (its SQL was edited), every row is deleted first and the model read all loads.
-#}
{% macro get_incremental_new_loads_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    {%- if not cdp.builds_incrementally() %}
    delete from {{ target }};
    {%- endif %}
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}
