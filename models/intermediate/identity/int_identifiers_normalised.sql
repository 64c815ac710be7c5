{#-
    Each source identifier with its normalised value (null when it is not a valid one), by
    the one rule per type in macros/identity/normalise_identifier.sql. Append-only: a build
    normalises the rows loaded after the newest of their source here.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='identity_scope',
    on_schema_change='sync_all_columns',
    tags=['incremental'],
    post_hook=[
        "{{ cdp.index_for_joins(['source', 'loaded_at']) }}",
        "{{ cdp.index_for_joins(['identifier_type', 'identifier_value']) }}",
        "{{ cdp.index_for_joins(['source', 'source_record_id']) }}",
    ],
) }}

with

identifiers as (
    {%- if cdp.identity_incremental() %}
    select unioned.*
    from {{ ref('int_identifiers_unioned') }} as unioned
    left join (
        select
            source,
            max(loaded_at) as loaded_through
        from {{ this }}
        group by source
    ) as built on unioned.source = built.source
    where built.loaded_through is null or unioned.loaded_at > built.loaded_through
    {%- else %}
    select * from {{ ref('int_identifiers_unioned') }}
    {%- endif %}
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
