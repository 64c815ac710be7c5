{#- Support tickets with their customer. Grain: one row per ticket. -#}
with

tickets as (
    select * from {{ ref('stg_support__tickets') }}
),

record_customers as (
    select * from {{ ref('bdg_customer_source_records') }}
),

final as (
    select
        tickets.ticket_id,
        record_customers.customer_id,
        tickets.channel,
        tickets.subject,
        {{ cdp.expresses_cancel_intent('tickets.subject') }} as expresses_cancel_intent,
        tickets.ticket_status,
        tickets.ticket_priority,
        tickets.created_at,
        tickets.resolved_at,
        case
            when tickets.resolved_at is not null
                then {{ dbt.datediff('tickets.created_at', 'tickets.resolved_at', 'minute') }} / 60.0  -- noqa: LT05
        end as resolution_hours,
        tickets.satisfaction_score
    from tickets
    left join record_customers
        on
            record_customers.source = 'support_tickets'
            and tickets.ticket_id = record_customers.source_record_id
)

select * from final
