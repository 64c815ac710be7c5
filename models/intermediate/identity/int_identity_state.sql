{#-
    Where the last identity build got to: per source, the newest identifier row it resolved,
    and the fingerprint of the rules it used (cdp.identity_rules_fingerprint). Built after
    every identity model, so a build that fails before it is done again in the next one.
    An incremental build moves a source's mark only as far as the records of its own scope
    (int_identity_scope_records), so rows a partial build (`dbt run --select ...`) left out
    are still new to the next one. See macros/identity/identity_incremental.sql.
-#}
{{ config(materialized='table') }}
-- depends_on: {{ ref('int_customer_ids_assigned') }}
-- depends_on: {{ ref('int_identity_components_final') }}
-- depends_on: {{ ref('int_identity_scope_records') }}
-- depends_on: {{ ref('int_identity_scope_customers') }}
{%- set previous = cdp.identity_previous_build('int_identity_state') %}

with

normalised as (
    select * from {{ ref('int_identifiers_normalised') }}
),

{%- if cdp.identity_incremental() and previous is not none %}

resolved as (
    select
        previous.source,
        previous.loaded_through
    from {{ previous }} as previous
    union all
    select
        normalised.source,
        normalised.loaded_at as loaded_through
    from normalised
    inner join {{ ref('int_identity_scope_records') }} as scope_records
        on
            normalised.source = scope_records.source
            and normalised.source_record_id = scope_records.source_record_id
),

{%- else %}

resolved as (
    select
        source,
        loaded_at as loaded_through
    from normalised
),

{%- endif %}

state as (
    select
        source,
        max(loaded_through) as loaded_through,
        '{{ cdp.identity_rules_fingerprint() if execute else "" }}' as fingerprint,
        cast({{ dbt.current_timestamp() }} as timestamp) as built_at
    from resolved
    group by source
)

select * from state
