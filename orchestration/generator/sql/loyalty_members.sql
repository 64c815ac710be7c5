-- loyalty/members_part-NNNN.csv: programme members; 3 % have a second row for a
-- replacement card.
select
    p,
    pid,
    r,
    off_loyalty + r as file_row,
    concat('LM', upper(hex15(hx3(p, r, 330)))) as member_id,
    card_number(p, r) as loyalty_card_id,
    name_variant(first_name, hi3(p, r, 331) % 100) as first_name,
    name_variant(last_name, hi3(p, r, 332) % 100) as last_name,
    case
        when hu3(p, r, 333) < 0.12 then null
        else email_variant(email_local, email_dom, hi3(p, r, 334) % 100)
    end as email,
    case
        when hu3(p, r, 335) < 0.08 then null
        when hh_phone_nat is not null and hu3(p, r, 336) < 0.4
            then fmt_phone(phone_cc, hh_phone_nat, hi3(p, r, 337))
        else fmt_phone(phone_cc, phone_nat, hi3(p, r, 337))
    end as phone,
    case
        when country = 'US' and hu3(p, r, 338) < 0.1
            then concat(postal_code, '-', lpad((hi3(p, r, 339) % 10000)::varchar, 4, '0'))
        else postal_code
    end as postal_code,
    case when hu3(p, r, 340) < 0.2 then null else birth_date end as birth_date,
    case
        when points >= 1500 then 'platinum'
        when points >= 700 then 'gold'
        when points >= 250 then 'silver'
        else 'bronze'
    end as tier,
    points::varchar as points_balance,
    ts_sql(us_of(case when r = 0 then b - 20.0 * hu(p, 342) else card_swap end)) as joined_at
from (
    select *, 50 * len(pos_k) + hi3(p, r, 341) % 400 as points
    from (select *, unnest(range(cnt_loyalty)) as r from persons)
)
