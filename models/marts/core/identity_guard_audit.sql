{#-
    Every identifier value a guard kept out of the identity graph, with the rule and the
    reason: junk values on the blocklist, values shared by records of different people,
    values beyond the number one customer may hold, and values that are not valid
    identifiers of their type.
-#}
with

identifiers as (
    select * from {{ ref('int_identifiers_normalised') }}
),

decisions as (
    select * from {{ ref('int_identifier_values_guarded') }}
    where guard_rule is not null
),

guarded as (
    select
        identifiers.identifier_type,
        identifiers.identifier_value,
        min(identifiers.raw_value) as raw_value_example,
        decisions.guard_rule,
        decisions.guard_reason,
        count(*) as record_count,
        count(distinct identifiers.source) as source_count,
        min(identifiers.seen_at) as first_seen_at,
        max(identifiers.seen_at) as last_seen_at
    from identifiers
    inner join decisions
        on
            identifiers.identifier_type = decisions.identifier_type
            and identifiers.identifier_value = decisions.identifier_value
    group by
        identifiers.identifier_type,
        identifiers.identifier_value,
        decisions.guard_rule,
        decisions.guard_reason
),

invalid as (
    select
        identifier_type,
        trim(raw_value) as identifier_value,
        min(raw_value) as raw_value_example,
        'invalid_format' as guard_rule,
        concat('not a valid ', identifier_type) as guard_reason,
        count(*) as record_count,
        count(distinct source) as source_count,
        min(seen_at) as first_seen_at,
        max(seen_at) as last_seen_at
    from identifiers
    where identifier_value is null
    group by identifier_type, trim(raw_value)
),

limit_violations as (
    select
        identifiers.identifier_type,
        identifiers.identifier_value,
        min(identifiers.raw_value) as raw_value_example,
        'max_per_customer' as guard_rule,
        violations.guard_reason,
        count(*) as record_count,
        count(distinct identifiers.source) as source_count,
        min(identifiers.seen_at) as first_seen_at,
        max(identifiers.seen_at) as last_seen_at
    from identifiers
    inner join {{ ref('int_identifier_limits_checked') }} as violations
        on
            identifiers.identifier_type = violations.identifier_type
            and identifiers.identifier_value = violations.identifier_value
    group by
        identifiers.identifier_type,
        identifiers.identifier_value,
        violations.guard_reason
),

final as (
    select * from guarded
    union all
    select * from invalid
    union all
    select * from limit_violations
)

select * from final
