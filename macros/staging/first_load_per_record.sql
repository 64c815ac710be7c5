{#-
    The first loaded row of each source record in `relation` (a CTE of a staging model): one
    row per record id (see staged_record_id: the source contract's `record_id`, or the model's
    `meta.identity.record_id` when it renames it), the earliest by _loaded_at, _load_id,
    _source_row. All columns of `relation`, no others.

        deduplicated as (
            {{ cdp.first_load_per_record('renamed') }}
        ),

    wide_rows: pick the first loads by their keys alone and join the rows back by their raw
    row (_load_id, _source_row), for rows too wide to sort whole (JSON): on 12.5 million web
    events 80 s against 130 s. Narrow rows are faster sorted whole (the join reads the
    relation twice: staging views read by many tests took twice as long).
-#}
{% macro first_load_per_record(relation, record_id=none, wide_rows=false) -%}
    {%- if not execute -%}
        {#- parse time: the graph is empty, and only the refs and sources count -#}
        select * from {{ relation }}
    {%- else -%}
        {{ return(adapter.dispatch('first_load_per_record', 'cdp')(
            relation, record_id or cdp.staged_record_id(model), wide_rows)) }}
    {%- endif -%}
{%- endmacro %}


{#- DuckDB and PostgreSQL both keep the first row per key in `order by` with `distinct on`. -#}
{% macro default__first_load_per_record(relation, record_id, wide_rows) -%}
    {%- if wide_rows %}
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
    {%- else %}
    select distinct on ({{ record_id | join(', ') }}) *
    from {{ relation }}
    order by {{ record_id | join(', ') }}, _loaded_at, _load_id, _source_row
    {%- endif %}
{%- endmacro %}
