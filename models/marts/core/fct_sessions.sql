{#-
    Web sessions: a device's events with no gap longer than 30 minutes. Grain: one row per
    session (device, customer, start). Events of a shared device (a store kiosk) are split by
    the customer they belong to.

    Incremental (delete+insert per device). A build re-sessionises only the devices whose
    events changed since the last build: for each device and customer, the number of events
    and the first and last event time here are compared with fct_events, so new and late
    events and events moved to another customer by a merge all mark their device. A full
    refresh gives the same rows.
-#}
{{ config(
    materialized='incremental',
    unique_key='anonymous_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    tags=['incremental']
) }}

with

web_events as (
    select
        event_id,
        anonymous_id,
        customer_id,
        event_type,
        event_name,
        page_path,
        event_at
    from {{ ref('fct_events') }}
    where source = 'web_events' and anonymous_id is not null
),

{%- if is_incremental() %}

current_events as (
    select
        anonymous_id,
        coalesce(customer_id, '') as customer_key,
        count(*) as event_count,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at
    from web_events
    group by anonymous_id, coalesce(customer_id, '')
),

built_sessions as (
    select
        anonymous_id,
        coalesce(customer_id, '') as customer_key,
        sum(event_count) as event_count,
        min(session_started_at) as first_event_at,
        max(session_ended_at) as last_event_at
    from {{ this }}
    group by anonymous_id, coalesce(customer_id, '')
),

changed_devices as (
    select distinct coalesce(current_events.anonymous_id, built_sessions.anonymous_id) as anonymous_id
    from current_events
    full outer join built_sessions
        on
            current_events.anonymous_id = built_sessions.anonymous_id
            and current_events.customer_key = built_sessions.customer_key
    where
        current_events.event_count is distinct from built_sessions.event_count
        or current_events.first_event_at is distinct from built_sessions.first_event_at
        or current_events.last_event_at is distinct from built_sessions.last_event_at
),

events as (
    select web_events.*
    from web_events
    inner join changed_devices on web_events.anonymous_id = changed_devices.anonymous_id
),

{%- else %}

events as (
    select * from web_events
),

{%- endif %}

gaps as (
    select
        *,
        lag(event_at) over (
            partition by anonymous_id, coalesce(customer_id, '')
            order by event_at, event_id
        ) as previous_event_at
    from events
),

flagged as (
    select
        *,
        case
            when previous_event_at is null then 1
            when {{ dbt.datediff('previous_event_at', 'event_at', 'second') }} > 30 * 60 then 1  -- noqa: LT05
            else 0
        end as starts_session
    from gaps
),

numbered as (
    select
        *,
        sum(starts_session) over (
            partition by anonymous_id, coalesce(customer_id, '')
            order by event_at, event_id
            rows between unbounded preceding and current row
        ) as session_number
    from flagged
),

landing_pages as (
    select
        anonymous_id,
        customer_id,
        session_number,
        page_path as landing_page,
        row_number() over (
            partition by anonymous_id, coalesce(customer_id, ''), session_number
            order by event_at, event_id
        ) as page_rank
    from numbered
    where event_type = 'page_view'
),

sessions as (
    select
        anonymous_id,
        customer_id,
        session_number,
        min(event_at) as session_started_at,
        max(event_at) as session_ended_at,
        count(*) as event_count,
        sum(case when event_type = 'page_view' then 1 else 0 end) as page_views,
        max(case when event_name = 'Order Completed' then 1 else 0 end) as converted
    from numbered
    group by anonymous_id, customer_id, session_number
),

final as (
    select
        md5(concat(
            sessions.anonymous_id, '|', coalesce(sessions.customer_id, ''), '|',
            cast(sessions.session_started_at as {{ dbt.type_string() }})
        )) as session_id,
        sessions.customer_id,
        sessions.anonymous_id,
        sessions.session_started_at,
        sessions.session_ended_at,
        cast({{ dbt.datediff('sessions.session_started_at', 'sessions.session_ended_at', 'second') }} as bigint) as duration_seconds,  -- noqa: LT05
        sessions.event_count,
        cast(sessions.page_views as bigint) as page_views,
        landing_pages.landing_page,
        sessions.converted = 1 as converted
    from sessions
    left join landing_pages
        on
            sessions.anonymous_id = landing_pages.anonymous_id
            and coalesce(sessions.customer_id, '') = coalesce(landing_pages.customer_id, '')
            and sessions.session_number = landing_pages.session_number
            and landing_pages.page_rank = 1
)

select * from final
