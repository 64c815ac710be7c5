{#-
    What each customer did and what it says about them. Grain: one row per customer_id.
    Recency is measured against the newest event in the data (as_of_at), not the clock,
    so a rebuild of the same data gives the same traits on every warehouse.

    Predicted 12-month value and churn probability come from the predictions asset
    (source predictions.customer_predictions, written by Dagster before this model); they are
    null when it has not run on this data (a dbt-only build, CDP_PREDICTIONS=0 after new
    data): predictions are joined only when their as_of_at is this build's. A live build
    (`cdp stream`, CDP_LIVE_BUILD) keeps the last fit: it refits at the next full run.
-#}
{%- set predictions_source = source('predictions', 'customer_predictions') %}
{%- set predictions_table = adapter.get_relation(
    predictions_source.database, predictions_source.schema, predictions_source.identifier
) if execute else none %}

with

customers as (
    select customer_id from {{ ref('dim_customers') }}
),

orders as (
    select * from {{ ref('fct_orders') }}
    where customer_id is not null
),

events as (
    select * from {{ ref('fct_events') }}
),

email as (
    select * from {{ ref('fct_email_engagement') }}
    where customer_id is not null
),

tickets as (
    select * from {{ ref('fct_support_tickets') }}
    where customer_id is not null
),

consents as (
    select * from {{ ref('int_customer_consents_summarised') }}
),

predictions as (
    {%- if predictions_table is not none %}
    select
        customer_id,
        as_of_at,
        predicted_orders_12m,
        predicted_value_12m,
        churn_probability
    from {{ predictions_source }}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as timestamp) as as_of_at,
        cast(null as double precision) as predicted_orders_12m,
        cast(null as double precision) as predicted_value_12m,
        cast(null as double precision) as churn_probability
    where 1 = 0
    {%- endif %}
),

as_of as (
    select max(event_at) as as_of_at from events
),

order_stats as (
    select
        customer_id,
        count(*) as orders_count,
        sum(case when channel = 'online' then 1 else 0 end) as online_orders_count,
        sum(case when channel = 'store' then 1 else 0 end) as store_orders_count,
        sum(revenue) as revenue_total,
        avg(revenue) as average_order_value,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at
    from orders
    group by customer_id
),

activity as (
    select
        customer_id,
        max(event_at) as last_activity_at,
        count(*) as events_count
    from events
    where customer_id is not null
    group by customer_id
),

channel_counts as (
    select
        customer_id,
        channel,
        count(*) as events_in_channel,
        row_number() over (partition by customer_id order by count(*) desc, channel asc) as channel_rank
    from events
    where customer_id is not null and channel <> 'email'
    group by customer_id, channel
),

store_counts as (
    select
        customer_id,
        store_id,
        row_number() over (partition by customer_id order by count(*) desc, store_id asc) as store_rank
    from orders
    where channel = 'store'
    group by customer_id, store_id
),

email_stats as (
    select
        customer_id,
        count(*) as emails_received,
        sum(case when opened then 1 else 0 end) as emails_opened,
        sum(case when clicked then 1 else 0 end) as emails_clicked
    from email
    group by customer_id
),

ticket_stats as (
    select
        customer_id,
        count(*) as support_contacts,
        avg(satisfaction_score) as support_satisfaction_avg,
        max(case when expresses_cancel_intent then created_at end) as cancel_intent_at
    from tickets
    group by customer_id
),

consent_state as (
    select
        customer_id,
        max(case when channel = 'email' then consent_status end) as consent_email,
        max(case when channel = 'sms' then consent_status end) as consent_sms,
        max(case when channel = 'push' then consent_status end) as consent_push,
        max(case when channel = 'ads' then consent_status end) as consent_ads,
        max(case when channel = 'email' then first_granted_at end) as email_subscribed_at
    from consents
    group by customer_id
),

joined as (
    select
        customers.customer_id,
        as_of.as_of_at,
        coalesce(order_stats.orders_count, 0) as orders_count,
        coalesce(order_stats.online_orders_count, 0) as online_orders_count,
        coalesce(order_stats.store_orders_count, 0) as store_orders_count,
        coalesce(order_stats.revenue_total, 0) as revenue_total,
        order_stats.average_order_value,
        order_stats.first_order_at,
        order_stats.last_order_at,
        {{ dbt.datediff('order_stats.last_order_at', 'as_of.as_of_at', 'day') }} as days_since_last_order,  -- noqa: LT05
        activity.last_activity_at,
        {{ dbt.datediff('activity.last_activity_at', 'as_of.as_of_at', 'day') }} as days_since_last_activity,  -- noqa: LT05
        coalesce(activity.events_count, 0) as events_count,
        channel_counts.channel as preferred_channel,
        store_counts.store_id as preferred_store_id,
        coalesce(email_stats.emails_received, 0) as emails_received,
        email_stats.emails_opened * 1.0 / nullif(email_stats.emails_received, 0) as email_open_rate,
        email_stats.emails_clicked * 1.0 / nullif(email_stats.emails_received, 0) as email_click_rate,
        coalesce(ticket_stats.support_contacts, 0) as support_contacts,
        ticket_stats.support_satisfaction_avg,
        ticket_stats.cancel_intent_at,
        coalesce(
            ticket_stats.cancel_intent_at
            > {{ dbt.dateadd('day', -var('cancel_intent_days'), 'as_of.as_of_at') }}
            and (
                order_stats.last_order_at is null
                or order_stats.last_order_at < ticket_stats.cancel_intent_at
            ),
            false
        ) as intends_to_cancel,
        consent_state.consent_email,
        consent_state.consent_sms,
        consent_state.consent_push,
        consent_state.consent_ads,
        consent_state.email_subscribed_at,
        predictions.predicted_orders_12m,
        predictions.predicted_value_12m,
        predictions.churn_probability
    from customers
    cross join as_of
    left join order_stats on customers.customer_id = order_stats.customer_id
    left join activity on customers.customer_id = activity.customer_id
    left join channel_counts
        on customers.customer_id = channel_counts.customer_id and channel_counts.channel_rank = 1
    left join store_counts
        on customers.customer_id = store_counts.customer_id and store_counts.store_rank = 1
    left join email_stats on customers.customer_id = email_stats.customer_id
    left join ticket_stats on customers.customer_id = ticket_stats.customer_id
    left join consent_state on customers.customer_id = consent_state.customer_id
    -- only predictions fitted on this data (same as_of): older ones are left out, except
    -- in a live build (CDP_LIVE_BUILD, set by the live job: orchestration/live/stream.py),
    -- which keeps the last fit until the next full run
    left join predictions
        on
            customers.customer_id = predictions.customer_id
            {%- if env_var('CDP_LIVE_BUILD', '') != 'true' %}
            and as_of.as_of_at = predictions.as_of_at
            {%- endif %}
),

scored as (
    -- recency, frequency and monetary scores from 1 to 5 among customers who bought
    select
        customer_id,
        ntile(5) over (order by days_since_last_order desc, customer_id asc) as recency_score,
        ntile(5) over (order by orders_count asc, customer_id asc) as frequency_score,
        ntile(5) over (order by revenue_total asc, customer_id asc) as monetary_score
    from joined
    where orders_count > 0
),

final as (
    select
        joined.customer_id,
        joined.as_of_at,
        joined.orders_count,
        cast(joined.online_orders_count as bigint) as online_orders_count,
        cast(joined.store_orders_count as bigint) as store_orders_count,
        cast(joined.revenue_total as decimal(18, 2)) as revenue_total,
        cast(joined.average_order_value as double precision) as average_order_value,
        joined.first_order_at,
        joined.last_order_at,
        cast(joined.days_since_last_order as integer) as days_since_last_order,
        joined.last_activity_at,
        cast(joined.days_since_last_activity as integer) as days_since_last_activity,
        joined.events_count,
        joined.preferred_channel,
        joined.preferred_store_id,
        joined.emails_received,
        cast(joined.email_open_rate as double precision) as email_open_rate,
        cast(joined.email_click_rate as double precision) as email_click_rate,
        joined.support_contacts,
        cast(joined.support_satisfaction_avg as double precision) as support_satisfaction_avg,
        joined.cancel_intent_at,
        joined.intends_to_cancel,
        joined.consent_email,
        joined.consent_sms,
        joined.consent_push,
        joined.consent_ads,
        joined.email_subscribed_at,
        cast(scored.recency_score as integer) as recency_score,
        cast(scored.frequency_score as integer) as frequency_score,
        cast(scored.monetary_score as integer) as monetary_score,
        concat(
            cast(scored.recency_score as {{ dbt.type_string() }}),
            cast(scored.frequency_score as {{ dbt.type_string() }}),
            cast(scored.monetary_score as {{ dbt.type_string() }})
        ) as rfm_segment,
        cast(joined.revenue_total as decimal(18, 2)) as historical_value,
        cast(round(cast(joined.predicted_orders_12m as decimal(18, 6)), 4) as double precision) as predicted_orders_12m,
        cast(joined.predicted_value_12m as decimal(18, 2)) as predicted_value_12m,
        cast(round(cast(joined.churn_probability as decimal(18, 6)), 4) as double precision) as churn_probability
    from joined
    left join scored on joined.customer_id = scored.customer_id
)

select * from final
