-- Added to cart or started checkout in the last 7 days, with no order since.
with

candidates as (
    select * from {{ ref('int_segment_candidates') }}
),

events as (
    select * from {{ ref('fct_events') }}
),

cart_activity as (
    select
        events.customer_id,
        max(events.event_at) as last_cart_at
    from events
    inner join candidates on events.customer_id = candidates.customer_id
    where
        events.event_name in ('Product Added', 'Checkout Started')
        and {{ dbt.datediff('events.event_at', 'candidates.as_of_at', 'day') }} <= 7  -- noqa: LT05
    group by events.customer_id
),

final as (
    select
        candidates.customer_id,
        candidates.email,
        candidates.first_name,
        candidates.last_name,
        candidates.consent_email,
        cart_activity.last_cart_at
    from candidates
    inner join cart_activity on candidates.customer_id = cart_activity.customer_id
    where candidates.last_order_at is null or candidates.last_order_at < cart_activity.last_cart_at
)

select * from final
