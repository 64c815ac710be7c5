{#-
    Scope of an incremental identity build: every normalised value on a row loaded since the
    last identity build (int_identity_state). Its record count, guard decision and graph node
    are recomputed. Empty on a full build. See macros/identity/identity_incremental.sql.
-#}
{{ config(materialized='table') }}

with

arrived as (
    {%- if cdp.identity_incremental() %}
    select normalised.*
    from {{ ref('int_identifiers_normalised') }} as normalised
    left join {{ cdp.identity_previous_build('int_identity_state') }} as state
        on normalised.source = state.source
    where state.loaded_through is null or normalised.loaded_at > state.loaded_through
    {%- else %}
    select * from {{ ref('int_identifiers_normalised') }}
    where false
    {%- endif %}
),

scope as (
    select distinct
        identifier_type,
        identifier_value,
        concat(identifier_type, ':', identifier_value) as node_key
    from arrived
    where identifier_value is not null
)

select * from scope
