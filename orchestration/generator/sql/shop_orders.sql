-- shop/orders_part-NNNN.csv: online orders. Account holders usually check out logged in
-- (shop_customer_id = their web userId); guests only leave an email, sometimes a junk one.
select
    p,
    pid,
    r,
    off_orders + r as file_row,
    order_id(p, o.k) as order_id,
    case when o.guest then null else user_id end as shop_customer_id,
    case
        when o.guest and hu3(p, o.k, 310) < 0.04 then '${junk_email}'
        else email_variant(email_local, email_dom, hi3(p, o.k, 311) % 100)
    end as email,
    case
        when hu3(p, o.k, 312) < 0.015 then '${junk_phone}'
        when hu3(p, o.k, 312) < 0.45 then fmt_phone(phone_cc, phone_nat, hi3(p, o.k, 313))
    end as phone,
    ts_iso(cap_us(us_of(o.day))) as ordered_at,
    case
        when o.day > ${days} - 2 then 'processing'
        when o.day > ${days} - 8 then 'shipped'
        when hu3(p, o.k, 314) < 0.03 then 'cancelled'
        when hu3(p, o.k, 314) < 0.08 then 'refunded'
        else 'completed'
    end as status,
    currency_of(country) as currency,
    money(o.sub) as subtotal,
    money(order_shipping(o.sub, country)) as shipping,
    money(order_tax(o.sub, country)) as tax,
    money(order_total(o.sub, country)) as total,
    concat(
        name_variant(first_name, hi3(p, o.k, 315) % 100), ' ',
        name_variant(last_name, hi3(p, o.k, 316) % 100)
    ) as ship_name,
    street as ship_street,
    city as ship_city,
    region as ship_region,
    postal_code as ship_postal_code,
    country as ship_country
from (
    select *, shop_orders[r + 1] as o
    from (select *, unnest(range(cnt_orders)) as r from persons)
)
