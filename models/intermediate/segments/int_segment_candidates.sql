{#-
    Every customer with the golden record fields a sync needs and the traits segments select
    on. Segments under models/segments/ filter this model.
-#}
with

customers as (
    select * from {{ ref('dim_customers') }}
),

traits as (
    select * from {{ ref('customer_traits') }}
),

final as (
    select
        customers.customer_id,
        customers.email,
        customers.phone,
        customers.first_name,
        customers.last_name,
        customers.city,
        customers.country,
        traits.consent_email,
        traits.consent_sms,
        traits.consent_ads,
        traits.email_subscribed_at,
        traits.as_of_at,
        traits.orders_count,
        traits.revenue_total,
        traits.average_order_value,
        traits.first_order_at,
        traits.last_order_at,
        traits.days_since_last_order,
        traits.days_since_last_activity,
        traits.recency_score,
        traits.frequency_score,
        traits.monetary_score,
        traits.rfm_segment,
        traits.preferred_channel,
        traits.preferred_store_id,
        traits.support_contacts,
        traits.support_satisfaction_avg,
        traits.cancel_intent_at,
        traits.intends_to_cancel,
        traits.predicted_value_12m,
        traits.churn_probability
    from customers
    inner join traits on customers.customer_id = traits.customer_id
)

select * from final
