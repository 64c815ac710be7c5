{#-
    Source identifiers that passed normalisation and every guard, with their graph node key.
    Incremental: the records in int_identity_scope_records are recomputed.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='identity_scope',
    on_schema_change='sync_all_columns',
    tags=['incremental'],
    meta={'identity_scope': {
        'model': 'int_identity_scope_records', 'key': ['source', 'source_record_id']}},
    post_hook=[
        "{{ cdp.index_for_joins(['source', 'source_record_id']) }}",
        "{{ cdp.index_for_joins(['node_key']) }}",
    ],
) }}
-- depends_on: {{ ref('int_identity_scope_records') }}

with

scoped_identifiers as (
    {{ cdp.identity_scoped(
        ref('int_identifiers_normalised'), 'int_identity_scope_records', ['source', 'source_record_id']) }}
),

identifiers as (
    select * from scoped_identifiers
    where identifier_value is not null
),

decisions as (
    select * from {{ ref('int_identifier_values_guarded') }}
),

kept as (
    select
        identifiers.source,
        identifiers.source_record_id,
        identifiers.identifier_type,
        identifiers.identifier_value,
        concat(identifiers.identifier_type, ':', identifiers.identifier_value) as node_key,
        identifiers.seen_at,
        identifiers.loaded_at
    from identifiers
    inner join decisions
        on
            identifiers.identifier_type = decisions.identifier_type
            and identifiers.identifier_value = decisions.identifier_value
    where decisions.guard_rule is null
)

select * from kept
