{#-
    Web sessions: a device's events with no gap longer than 30 minutes. Grain: one row per
    session (device, customer, start). Events of a shared device (a store kiosk) are split by
    the customer they belong to.
-#}
with

web_events as (
    select * from {{ ref('stg_web__events') }}
),

record_customers as (
    select * from {{ ref('bdg_customer_source_records') }}
),

events as (
    select
        web_events.event_id,
        web_events.anonymous_id,
        record_customers.customer_id,
        web_events.event_type,
        web_events.event_name,
        web_events.page_path,
        web_events.event_at
    from web_events
    left join record_customers
        on
            record_customers.source = 'web_events'
            and web_events.event_id = record_customers.source_record_id
    where web_events.anonymous_id is not null
),

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
    where event_type = 'page'
),

sessions as (
    select
        anonymous_id,
        customer_id,
        session_number,
        min(event_at) as session_started_at,
        max(event_at) as session_ended_at,
        count(*) as event_count,
        sum(case when event_type = 'page' then 1 else 0 end) as page_views,
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
