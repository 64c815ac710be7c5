{#-
    Each source identifier with its normalised value (null when it is not a valid one), by
    the one rule per type in macros/identity/normalise_identifier.sql.
-#}
with

identifiers as (
    select * from {{ ref('int_identifiers_unioned') }}
),

calling_codes as (
    select * from {{ ref('country_calling_codes') }}
),

with_country as (
    select
        identifiers.*,
        calling_codes.calling_code,
        calling_codes.trunk_prefix
    from identifiers
    left join calling_codes
        on
            calling_codes.country_code
            = {{ cdp.identity_phone_country('identifiers.country_code') }}
),

normalised as (
    select
        source,
        source_record_id,
        identifier_type,
        raw_value,
        {{ cdp.normalise_identifier('identifier_type', 'raw_value', 'calling_code', 'trunk_prefix') }}
            as identifier_value,
        seen_at,
        loaded_at
    from with_country
)

select * from normalised
