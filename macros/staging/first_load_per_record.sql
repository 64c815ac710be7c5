{#-
    The first loaded row of each source record in `relation` (a CTE of a staging model): one
    row per record id (see staged_record_id: the source contract's `record_id`, or the model's
    `meta.identity.record_id` when it renames it), the earliest by _loaded_at, _load_id,
    _source_row. All columns of `relation`, no others.

        deduplicated as (
            {{ cdp.first_load_per_record('renamed') }}
        ),
-#}
{% macro first_load_per_record(relation, record_id=none) -%}
    {%- if not execute -%}
        {#- parse time: the graph is empty, and only the refs and sources count -#}
        select * from {{ relation }}
    {%- else -%}
        {{ return(adapter.dispatch('first_load_per_record', 'cdp')(
            relation, record_id or cdp.staged_record_id(model))) }}
    {%- endif -%}
{%- endmacro %}


{#-
    DuckDB and PostgreSQL both keep the first row per key in `order by` with `distinct on`.
    It runs on the narrow key columns only and the rows are joined back by their raw row
    (_load_id, _source_row): sorting whole rows (JSON and all) was 1.6 times slower on
    12.5 million web events.
-#}
{% macro default__first_load_per_record(relation, record_id) -%}
    select {{ relation }}.*
    from {{ relation }}
    inner join (
        select distinct on ({{ record_id | join(', ') }})
            _load_id,
            _source_row
        from {{ relation }}
        order by {{ record_id | join(', ') }}, _loaded_at, _load_id, _source_row
    ) as first_loads
        on
            {{ relation }}._load_id = first_loads._load_id
            and {{ relation }}._source_row = first_loads._source_row
{%- endmacro %}
