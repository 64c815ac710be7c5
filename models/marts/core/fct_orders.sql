{#-
    Every purchase, online and in store, with the customer who made it. Grain: one row per
    order (online order_id or store transaction_id). Revenue is what the customer paid
    (total including shipping and tax). Walk-in store sales without a loyalty card have no
    customer.
-#}
with

online_orders as (
    select * from {{ ref('stg_shop__orders') }}
),

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

store_sales as (
    select * from {{ ref('stg_pos__transactions') }}
),

record_customers as (
    select * from {{ ref('bdg_customer_source_records') }}
),

items_per_order as (
    select
        order_id,
        count(*) as line_count,
        sum(quantity) as item_count,
        sum(line_amount) as items_amount
    from order_items
    group by order_id
),

online as (
    select
        online_orders.order_id,
        'online' as channel,
        'shop_orders' as source,
        online_orders.order_id as source_record_id,
        online_orders.ordered_at,
        online_orders.order_status,
        cast(null as {{ dbt.type_string() }}) as store_id,
        online_orders.currency_code,
        items_per_order.line_count,
        items_per_order.item_count,
        items_per_order.items_amount,
        online_orders.subtotal_amount,
        online_orders.shipping_amount,
        online_orders.tax_amount,
        online_orders.total_amount as revenue,
        online_orders._loaded_at as loaded_at
    from online_orders
    left join items_per_order on online_orders.order_id = items_per_order.order_id
),

in_store as (
    select
        transaction_id as order_id,
        'store' as channel,
        'pos_transactions' as source,
        transaction_id as source_record_id,
        transacted_at as ordered_at,
        'completed' as order_status,
        store_id,
        currency_code,
        cast(null as integer) as line_count,
        item_count,
        cast(null as decimal(18, 2)) as items_amount,
        cast(null as decimal(18, 2)) as subtotal_amount,
        cast(null as decimal(18, 2)) as shipping_amount,
        cast(null as decimal(18, 2)) as tax_amount,
        total_amount as revenue,
        _loaded_at as loaded_at
    from store_sales
),

orders as (
    select * from online
    union all
    select * from in_store
),

final as (
    select
        orders.order_id,
        orders.channel,
        record_customers.customer_id,
        orders.ordered_at,
        orders.order_status,
        orders.store_id,
        orders.currency_code,
        orders.line_count,
        cast(orders.item_count as bigint) as item_count,
        cast(orders.items_amount as decimal(18, 2)) as items_amount,
        orders.subtotal_amount,
        orders.shipping_amount,
        orders.tax_amount,
        orders.revenue,
        orders.source,
        orders.source_record_id,
        orders.loaded_at
    from orders
    left join record_customers
        on
            orders.source = record_customers.source
            and orders.source_record_id = record_customers.source_record_id
)

select * from final
