{#- Each source identifier with its normalised value (null when it is not a valid one). -#}
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
            = upper(coalesce(identifiers.country_code, '{{ var("identity_phone_default_country", "US") }}'))
),

normalised as (
    select
        source,
        source_record_id,
        identifier_type,
        raw_value,
        case identifier_type
            when 'email' then {{ cdp.normalise_email('raw_value') }}
            when 'phone' then {{ cdp.normalise_phone('raw_value', 'calling_code', 'trunk_prefix') }}
            else nullif(trim(raw_value), '')
        end as identifier_value,
        seen_at,
        loaded_at
    from with_country
)

select * from normalised
