-- One row per person of the part: who they are, and how many rows they produce in each
-- source. Every source query reads the `persons` view in its row order (threads = 1),
-- so the line number of any row is off_<table> + its index within the person.
--
-- Persons are visited in a scrambled order inside the part (an affine bijection of the
-- position), so files are not sorted by person.
create table people as
with positions as (
    select
        i,
        ${start} + (i * ${mult}) % ${size} as p
    from range(${size}) as t (i)
),

households as (
    -- 6 % of blocks of four consecutive people are households of 2-4 people that share
    -- an address, usually a last name, and the head's phone as the home phone.
    select
        i,
        p,
        hu(p // 4, 1) < 0.06 and p % 4 < 2 + hi(p // 4, 2) % 3 as in_hh,
        case
            when hu(p // 4, 1) < 0.06 and p % 4 < 2 + hi(p // 4, 2) % 3 then (p // 4) * 4
            else p
        end as head
    from positions
),

geo as (
    select
        *,
        ${city_ix_expr} as city_ix,
        1 + hi(p, 5) % len(first_names()) as fi,
        case
            when in_hh and p <> head and hu(p, 6) < 0.7 then 1 + hi(head, 7) % len(last_names())
            else 1 + hi(p, 7) % len(last_names())
        end as li
    from households
),

addr as (
    select
        *,
        first_names()[fi] as first_name,
        last_names()[li] as last_name,
        first_names_ascii()[fi] as fn_ascii,
        last_names_ascii()[li] as ln_ascii,
        cities()[city_ix].city as city,
        cities()[city_ix].region as region,
        cities()[city_ix].country as country,
        cities()[city_ix].cc as phone_cc,
        case cities()[city_ix].country
            when 'GB' then concat(
                (1 + hi(head, 8) % 180)::varchar, ' ', streets_gb()[1 + hi(head, 9) % len(streets_gb())]
            )
            when 'DE' then concat(
                streets_de()[1 + hi(head, 9) % len(streets_de())], ' ', (1 + hi(head, 8) % 120)::varchar
            )
            when 'FR' then concat(
                (1 + hi(head, 8) % 90)::varchar, ' ', streets_fr()[1 + hi(head, 9) % len(streets_fr())]
            )
            else concat(
                (1 + hi(head, 8) % 9899)::varchar, ' ',
                street_names()[1 + hi(head, 9) % len(street_names())], ' ',
                street_suffixes()[1 + hi(head, 10) % len(street_suffixes())],
                case
                    when hu(head, 11) < 0.12 then concat(
                        ', Apt ', (1 + hi(head, 12) % 40)::varchar,
                        ['', 'A', 'B', 'C'][1 + hi(head, 13) % 4]
                    )
                    else ''
                end
            )
        end as street,
        case cities()[city_ix].country
            when 'CA' then concat(
                cities()[city_ix].postal, ' ', (hi(head, 14) % 10)::varchar,
                chr((65 + hi(head, 15) % 26)::int), (hi(head, 16) % 10)::varchar
            )
            when 'GB' then concat(
                cities()[city_ix].postal, ' ', (hi(head, 14) % 10)::varchar,
                chr((65 + hi(head, 15) % 26)::int), chr((65 + hi(head, 16) % 26)::int)
            )
            else concat(cities()[city_ix].postal, lpad((hi(head, 14) % 100)::varchar, 2, '0'))
        end as postal_code,
        phone_nat(cities()[city_ix].country, cities()[city_ix].area, p) as phone_nat,
        case
            when in_hh then phone_nat(cities()[city_ix].country, cities()[city_ix].area, head)
        end as hh_phone_nat
    from geo
),

contact as (
    select
        *,
        -- the trailing number is a bijection of p, so every mailbox is unique
        concat(
            case hi(p, 17) % 6
                when 0 then concat(fn_ascii, '.', ln_ascii)
                when 1 then concat(fn_ascii, ln_ascii)
                when 2 then concat(substr(fn_ascii, 1, 1), ln_ascii)
                when 3 then concat(fn_ascii, '_', ln_ascii)
                when 4 then concat(ln_ascii, '.', fn_ascii)
                else fn_ascii
            end,
            ((p * ${email_mult} + ${email_add}) % ${email_mod})::varchar
        ) as email_local,
        case
            when country in ('US', 'CA')
                then email_domains_us()[1 + hi(p, 18) % len(email_domains_us())]
            else email_domains_intl()[1 + hi(p, 18) % len(email_domains_intl())]
        end as email_dom,
        date_str(us_of(${days} - (18 + hi(p, 19) % 62) * 365.25 - 365.0 * hu(p, 20))) as birth_date,
        -- lifecycle: first seen (days from window start; negative = before the window)
        case
            when hu(p, 21) < 0.35 then -1095.0 * hu(p, 22)
            else ${days} * pow(hu(p, 22), 0.75)
        end as b,
        -- web presence: 0 none (store/CRM only), 1 anonymous only (never logs in), 2 account
        case when hu(p, 31) < 0.10 then 0 when hu(p, 31) < 0.18 then 1 else 2 end as wk,
        hu(p, 24) < 0.55 as buyer
    from addr
),

life as (
    select
        *,
        b - ln(1.0 - hu(p, 25)) * 600.0 * exp(0.5 * hz(p, 26)) as death,
        exp(ln(1.0 / 230.0) + 0.9 * hz(p, 27)) as lam0,
        hu(p, 30) < case when country in ('US', 'CA') then 0.42 else 0.05 end as member,
        greatest(b, 0.0) as lo
    from contact
),

purchases as (
    select
        *,
        greatest(least(death, ${days}) - lo, 0.0) as alen,
        lam0 * case when member then 1.3 else 1.0 end as lam,
        lo + (${days} - lo) * hu(p, 77) as card_swap,
        (buyer and b >= 0)::int as n0,
        case
            when member and wk > 0 then 0.1 + 0.5 * hu(p, 32)
            when member then 0.0
            when wk > 0 then 1.0
            else -1.0
        end as w
    from life
),

counts as (
    select
        *,
        case
            when w < 0 or not buyer then 0
            else n0 + least(poisson(lam * alen, hu(p, 28)), 150)
        end as npur,
        least(death + 60.0, ${days} - 0.01) as whi,
        case when hu(p, 60) < 0.55 then 1 else 0 end as subscribed,
        0.04 + 0.45 * hu(p, 66) as open_rate
    from purchases
),

lists as (
    select
        *,
        list_filter(range(npur), lambda k: hu3(p, k, 33) < w) as shop_k,
        list_filter(range(npur), lambda k: hu3(p, k, 33) >= w) as pos_k,
        case
            when whi - lo < 0.5 then 0
            when wk = 2 then least(40, floor(exp(0.75 + 0.8 * hz(p, 40)))::int + 1)
            when wk = 1 then 1 + (hu(p, 41) < 0.4)::int
            else 0
        end as n_sess,
        case when wk = 2 then 3 + hi(p, 42) % 5 else 3 end as spp,
        case
            when wk = 2 then 1 + (hu(p, 43) < 0.45)::int + (hu(p, 44) < 0.15)::int
            else 1
        end as n_dev,
        case when wk = 2 then concat('usr_', hex15(hx(p, 46))) end as user_id,
        subscribed = 1 and hu(p, 61) < 0.12 as unsub,
        b + 2.0 * hu(p, 62) as sub_start,
        greatest(b + 2.0 * hu(p, 62), 0.0) as sub_lo
    from counts
),

email_plan as (
    select
        *,
        case
            when unsub then sub_lo + (${days} - sub_lo) * hu(p, 63)
            else ${days} - 0.01
        end as sub_hi
    from lists
),

email_sends as (
    select
        *,
        case
            -- campaigns received over the subscription (randomised rounding of the mean)
            when subscribed = 1 and sub_hi > sub_lo
                then least(200, floor((sub_hi - sub_lo) / (105.0 * exp(0.5 * hz(p, 64))) + hu(p, 65)))::int
            else 0
        end as n_send
    from email_plan
),

rows_per_source as (
    select
        *,
        len(shop_k) as cnt_orders,
        -- shop orders, computed once: purchase k, day offset, subtotal (cents), guest checkout
        list_transform(
            shop_k,
            lambda k: {
                'k': k,
                'day': purchase_day(p, k, n0, b, lo, alen),
                'sub': order_subtotal(p, k),
                'guest': order_guest(p, k, wk),
                'items': n_items(p, k)
            }
        ) as shop_orders,
        wk = 2 and member and n_sess > 0 and hu(p, 45) < 0.06 as kiosk,
        -- a few addresses hard-bounce: their last send bounces
        (n_send > 0 and hu(p, 67) < 0.03)::int as n_bounce,
        -- consent: 0/1 email marketing granted/withdrawn, 2/3 sms marketing granted/withdrawn,
        -- 4/5 ads personalisation granted/withdrawn, 6 push marketing, 7 ads analytics
        list_filter(
            range(8),
            lambda c: case c
                when 0 then subscribed = 1
                when 1 then unsub
                when 2 then hu(p, 78) < 0.08
                when 3 then hu(p, 78) < 0.02
                when 4 then wk = 2 and hu(p, 79) < 0.05
                when 5 then wk = 2 and hu(p, 79) < 0.012
                when 6 then wk = 2 and hu(p, 80) < 0.03
                else wk = 2 and hu(p, 81) < 0.03
            end
        ) as consent_codes,
        (hu(p, 71) < 0.12)::int + (hu(p, 72) < 0.025)::int + (hu(p, 73) < 0.008)::int as cnt_support,
        case
            when hu(p, 74) < case when wk = 2 then 0.86 else 0.5 end
                then 1 + (hu(p, 75) < 0.055)::int
            else 0
        end as cnt_crm,
        case when member then 1 + (hu(p, 76) < 0.03)::int else 0 end as cnt_loyalty,
        (hu(p, 35) < 0.2)::int + (hu(p, 36) < 0.02)::int as n_walk
    from email_sends
),

final_counts as (
    select
        *,
        n_sess * spp + cnt_orders + 3 * kiosk::int as cnt_web,
        coalesce(list_sum(list_transform(shop_orders, lambda o: o.items)), 0) as cnt_items,
        len(pos_k) + n_walk as cnt_pos,
        len(consent_codes) as cnt_consent,
        concat('P', lpad(p::varchar, ${pid_width}, '0')) as pid,
        [0, 1 + n_dev * (hi3(p, 1, 51) % 3)::int, 2 + n_dev * (hi3(p, 2, 51) % 3)::int] as sl,
        [
            uuid_of(hx3(p, 0, 47), hx3(p, 0, 48)),
            uuid_of(hx3(p, 1, 47), hx3(p, 1, 48)),
            uuid_of(hx3(p, 2, 47), hx3(p, 2, 48))
        ] as anon_ids,
        list_transform(
            [0, 1, 2],
            lambda d: concat(
                ',"context":{"ip":"',
                (1 + hi3(p, d, 49) % 223)::varchar, '.',
                ((hi3(p, d, 49) >> 8) % 256)::varchar, '.',
                ((hi3(p, d, 49) >> 16) % 256)::varchar, '.',
                (1 + (hi3(p, d, 49) >> 24) % 254)::varchar,
                '","userAgent":"', user_agents()[1 + hi3(p, d, 50) % len(user_agents())],
                '","library":', libraries()[1 + hi(p, 52) % len(libraries())],
                ',"page":{'
            )
        ) as dev_ctx
    from rows_per_source
),

email_opens as (
    -- opens spread over the sends that did not bounce; a quarter of the opens click
    select
        *,
        least(n_send - n_bounce, floor((n_send - n_bounce) * open_rate + hu(p, 68))::int) as n_open
    from final_counts
),

email_engagement as (
    select
        *,
        least(n_open, floor(n_open * 0.25 + hu(p, 69))::int) as n_click
    from email_opens
)

select
    * exclude (fn_ascii, ln_ascii),
    -- email rows: n_send sends, n_open opens, n_click clicks, the bounce, the unsubscribe
    n_send + n_open + n_click + n_bounce + unsub::int as cnt_email
from email_engagement;

-- Rows of every source before each person: a narrow window, joined back by position.
create table offsets as
select
    coalesce(sum(cnt_web) over preceding_rows, 0) as off_web,
    coalesce(sum(cnt_crm) over preceding_rows, 0) as off_crm,
    coalesce(sum(cnt_orders) over preceding_rows, 0) as off_orders,
    coalesce(sum(cnt_items) over preceding_rows, 0) as off_items,
    coalesce(sum(cnt_pos) over preceding_rows, 0) as off_pos,
    coalesce(sum(cnt_loyalty) over preceding_rows, 0) as off_loyalty,
    coalesce(sum(cnt_email) over preceding_rows, 0) as off_email,
    coalesce(sum(cnt_support) over preceding_rows, 0) as off_support,
    coalesce(sum(cnt_consent) over preceding_rows, 0) as off_consent
from people
window preceding_rows as (order by i rows between unbounded preceding and 1 preceding)
order by i;

create table persons as
select * from people positional join offsets;

drop table people;

drop table offsets;
