-- shop/order_items_part-NNNN.parquet: the lines of every shop order.
select
    p,
    pid,
    o.k * 4 + i as r,
    off_items + before + i as file_row,
    order_id(p, o.k) as order_id,
    (i + 1)::integer as line_number,
    product_sku()[item_prod(p, o.k, i)] as sku,
    product_name()[item_prod(p, o.k, i)] as product_name,
    product_category()[item_prod(p, o.k, i)] as category,
    item_qty(p, o.k, i)::integer as quantity,
    (product_price()[item_prod(p, o.k, i)] / 100.0)::decimal(18, 2) as unit_price
from (
    select *, unnest(range(o.items)) as i
    from (
        select
            *,
            shop_orders[q + 1] as o,
            coalesce(list_sum(list_transform(shop_orders[1:q], lambda o2: o2.items)), 0) as before
        from (select p, pid, shop_orders, off_items, unnest(range(cnt_orders)) as q from persons)
    )
)
