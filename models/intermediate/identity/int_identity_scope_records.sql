{#-
    Scope of an incremental identity build: the records loaded since the last identity build
    and every record carrying one of their values (int_identity_scope_values). Their kept
    identifiers are recomputed. Empty on a full build.
-#}
{{ config(materialized='table') }}

with

normalised as (
    select * from {{ ref('int_identifiers_normalised') }}
),

scope_values as (
    select * from {{ ref('int_identity_scope_values') }}
),

{%- if cdp.identity_incremental() %}

arrived as (
    select
        normalised.source,
        normalised.source_record_id
    from normalised
    left join {{ cdp.identity_previous_build('int_identity_state') }} as state
        on normalised.source = state.source
    where state.loaded_through is null or normalised.loaded_at > state.loaded_through
),

carrying as (
    select
        normalised.source,
        normalised.source_record_id
    from normalised
    inner join scope_values
        on
            normalised.identifier_type = scope_values.identifier_type
            and normalised.identifier_value = scope_values.identifier_value
),

scope as (
    select * from arrived
    union
    select * from carrying
)

{%- else %}

scope as (
    select
        normalised.source,
        normalised.source_record_id
    from normalised
    cross join scope_values
    where false
)

{%- endif %}

select * from scope
