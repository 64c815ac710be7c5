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


{#- DuckDB and PostgreSQL both keep the first row per key in `order by` with `distinct on`. -#}
{% macro default__first_load_per_record(relation, record_id) -%}
    select distinct on ({{ record_id | join(', ') }}) *
    from {{ relation }}
    order by {{ record_id | join(', ') }}, _loaded_at, _load_id, _source_row
{%- endmacro %}
