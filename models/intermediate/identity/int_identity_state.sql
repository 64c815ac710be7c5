{#-
    Where the last identity build got to: per source, the newest identifier row it resolved,
    and the fingerprint of the rules it used (cdp.identity_rules_fingerprint). Built after
    every identity model, so a build that fails before it is done again in the next one. See
    macros/identity/identity_incremental.sql.
-#}
{{ config(materialized='table') }}
-- depends_on: {{ ref('int_customer_ids_assigned') }}
-- depends_on: {{ ref('int_identity_components_final') }}

with

normalised as (
    select * from {{ ref('int_identifiers_normalised') }}
),

state as (
    select
        source,
        max(loaded_at) as loaded_through,
        '{{ cdp.identity_rules_fingerprint() if execute else "" }}' as fingerprint,
        cast({{ dbt.current_timestamp() }} as timestamp) as built_at
    from normalised
    group by source
)

select * from state
