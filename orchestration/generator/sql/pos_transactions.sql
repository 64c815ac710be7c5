-- pos/transactions_part-NNNN.csv: store sales. Members scan their loyalty card (the
-- replacement card after a swap); walk-in sales have no card and belong to nobody.
select
    p,
    case when own then pid end as pid,
    r,
    off_pos + r as file_row,
    concat('txn_', hex15(hx3(p, r, 321))) as transaction_id,
    concat('ST', (
        101 + case when own and hu3(p, r, 322) < 0.85 then hi(head, 323) else hi3(p, r, 323) end
        % ${store_count}
    )::varchar) as store_id,
    concat('R', (1 + hi3(p, r, 324) % 6)::varchar) as register_id,
    case
        when own then card_number(p, case when cnt_loyalty = 2 and day > card_swap then 1 else 0 end)
    end as loyalty_card_id,
    ts_sql(cap_us(us_of(floor(day) + 0.375 + 0.5 * (day - floor(day))))) as transacted_at,
    (1 + hi3(p, r, 325) % 3 + (hu3(p, r, 326) < 0.3)::int * (hi3(p, r, 327) % 5))::varchar
        as items_count,
    money(greatest(199, round(exp(ln(3800.0) + 0.7 * hz3(p, r, 328))))::bigint) as total_amount,
    case when own and country = 'CA' then 'CAD' else 'USD' end as currency,
    payment_methods()[1 + hi3(p, r, 329) % len(payment_methods())] as payment_method
from (
    select
        *,
        case when own then purchase_day(p, k, n0, b, lo, alen) else ${days} * hu3(p, r, 320) end as day
    from (
        select *, r < len(pos_k) as own, pos_k[r + 1] as k
        from (select *, unnest(range(cnt_pos)) as r from persons)
    )
)
