-- Revenue in fct_orders is the sum of every staged online order and store sale, to the cent.
with

fact as (
    select coalesce(sum(revenue), 0) as revenue from {{ ref('fct_orders') }}
),

sources as (
    select
        (select coalesce(sum(total_amount), 0) as online_revenue from {{ ref('stg_shop__orders') }})
        + (select coalesce(sum(total_amount), 0) as store_revenue from {{ ref('stg_pos__transactions') }}) as revenue
)

select
    fact.revenue as fact_revenue,
    sources.revenue as source_revenue
from fact
cross join sources
where fact.revenue <> sources.revenue
