{#-
    Every distinct normalised identifier value with the guard decision on it: kept
    (guard_rule null) or dropped by the blocklist or by the shared-value rule (see
    seeds/identity/). Dropped values never link records; marts/core/identity_guard_audit
    shows them with the reason.

    Incremental: only the values in int_identity_scope_values are decided again, from every
    identifier of the records carrying them (int_identity_scope_records), which is all a
    value's counts and shared-value rule read.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='identity_scope',
    on_schema_change='sync_all_columns',
    tags=['incremental'],
    meta={'identity_scope': {
        'model': 'int_identity_scope_values', 'key': ['identifier_type', 'identifier_value']}},
    post_hook=["{{ cdp.index_for_joins(['identifier_type', 'identifier_value']) }}"],
) }}
-- depends_on: {{ ref('int_identity_scope_values') }}
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

identifier_types as (
    select * from {{ ref('identity_identifier_types') }}
),

blocklist as (
    select * from {{ ref('identity_blocklist') }}
),

counted_values as (
    select
        identifier_type,
        identifier_value,
        count(*) as record_count
    from identifiers
    group by identifier_type, identifier_value
),

distinct_values as (
    -- in an incremental build, the values in its scope (the others' counts are partial)
    {{ cdp.identity_scoped('counted_values', 'int_identity_scope_values', ['identifier_type', 'identifier_value']) }}
),

blocklist_matches as (
    select
        distinct_values.identifier_type,
        distinct_values.identifier_value,
        min(concat(blocklist.match_type, ' ', blocklist.pattern, ': ', blocklist.reason)) as guard_reason
    from distinct_values
    inner join blocklist
        on
            distinct_values.identifier_type = blocklist.identifier_type
            and (
                (blocklist.match_type = 'exact' and distinct_values.identifier_value = blocklist.pattern)
                or (
                    blocklist.match_type = 'regex'
                    and {{ cdp.regex_matches('distinct_values.identifier_value', 'blocklist.pattern') }}
                )
            )
    group by distinct_values.identifier_type, distinct_values.identifier_value
),

unblocked_record_identifiers as (
    select distinct
        identifiers.source,
        identifiers.source_record_id,
        identifiers.identifier_type,
        identifiers.identifier_value
    from identifiers
    left join blocklist_matches
        on
            identifiers.identifier_type = blocklist_matches.identifier_type
            and identifiers.identifier_value = blocklist_matches.identifier_value
    where blocklist_matches.identifier_value is null
),

shared_values as (
    -- values on more records than their type allows, the candidates for the shared-value rule
    select
        unblocked_record_identifiers.identifier_type,
        unblocked_record_identifiers.identifier_value
    from unblocked_record_identifiers
    inner join identifier_types
        on unblocked_record_identifiers.identifier_type = identifier_types.identifier_type
    where identifier_types.max_shared_records is not null
    group by
        unblocked_record_identifiers.identifier_type,
        unblocked_record_identifiers.identifier_value,
        identifier_types.max_shared_records
    having count(*) > identifier_types.max_shared_records
),

stronger_values_seen as (
    -- distinct values of each stronger identifier type on the records of a shared value
    select
        shared_values.identifier_type,
        shared_values.identifier_value,
        other.identifier_type as stronger_type,
        stronger_types.max_per_customer as stronger_limit,
        count(distinct other.identifier_value) as stronger_values
    from shared_values
    inner join unblocked_record_identifiers as carrier
        on
            shared_values.identifier_type = carrier.identifier_type
            and shared_values.identifier_value = carrier.identifier_value
    inner join unblocked_record_identifiers as other
        on
            carrier.source = other.source
            and carrier.source_record_id = other.source_record_id
    inner join identifier_types as shared_types
        on shared_values.identifier_type = shared_types.identifier_type
    inner join identifier_types as stronger_types
        on other.identifier_type = stronger_types.identifier_type
    where
        stronger_types.priority < shared_types.priority
        and stronger_types.max_per_customer is not null
    group by
        shared_values.identifier_type,
        shared_values.identifier_value,
        other.identifier_type,
        stronger_types.max_per_customer
),

shared_value_conflicts as (
    select
        identifier_type,
        identifier_value,
        min(concat(
            'shared by records with ', cast(stronger_values as {{ dbt.type_string() }}),
            ' different ', stronger_type, ' values (one person has at most ',
            cast(stronger_limit as {{ dbt.type_string() }}), ')'
        )) as guard_reason
    from stronger_values_seen
    where stronger_values > stronger_limit
    group by identifier_type, identifier_value
),

decided as (
    select
        distinct_values.identifier_type,
        distinct_values.identifier_value,
        distinct_values.record_count,
        case
            when blocklist_matches.identifier_value is not null then 'blocklist'
            when shared_value_conflicts.identifier_value is not null then 'shared_value'
        end as guard_rule,
        coalesce(blocklist_matches.guard_reason, shared_value_conflicts.guard_reason) as guard_reason
    from distinct_values
    left join blocklist_matches
        on
            distinct_values.identifier_type = blocklist_matches.identifier_type
            and distinct_values.identifier_value = blocklist_matches.identifier_value
    left join shared_value_conflicts
        on
            distinct_values.identifier_type = shared_value_conflicts.identifier_type
            and distinct_values.identifier_value = shared_value_conflicts.identifier_value
)

select * from decided
