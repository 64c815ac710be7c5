{#- Source identifiers that passed normalisation and every guard, with their graph node key. -#}
with

identifiers as (
    select * from {{ ref('int_identifiers_normalised') }}
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
