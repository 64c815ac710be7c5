-- crm/contacts_part-NNNN.csv: one contact per CRM person; ~5.5 % of them have a second,
-- later contact (a duplicate) with a variant name, email or phone.
select
    p,
    pid,
    r,
    off_crm + r as file_row,
    (1000000000 + (p * ${crm_mult} + ${crm_add}) % 4500000000 + r * 4500000000)::varchar
        as contact_id,
    name_variant(first_name, case when r = 0 then hi3(p, r, 301) % 100 else 40 + hi3(p, r, 301) % 60 end)
        as first_name,
    name_variant(last_name, case when r = 0 then hi3(p, r, 302) % 100 else 40 + hi3(p, r, 302) % 60 end)
        as last_name,
    case
        when hu3(p, r, 303) < 0.012 then '${junk_email}'
        when hu3(p, r, 303) < case when r = 0 then 0.05 else 0.3 end then null
        else email_variant(
            email_local, email_dom,
            case when r = 0 then hi3(p, r, 304) % 100 else 50 + hi3(p, r, 304) % 50 end
        )
    end as email,
    case
        when hu3(p, r, 305) < 0.01 then '${junk_phone}'
        when hu3(p, r, 305) < 0.3 then null
        when hh_phone_nat is not null and hu3(p, r, 306) < 0.5
            then fmt_phone(phone_cc, hh_phone_nat, hi3(p, r, 307))
        else fmt_phone(phone_cc, phone_nat, hi3(p, r, 307))
    end as phone,
    case when r = 1 and hu3(p, r, 308) < 0.4 then null else street end as street,
    case when r = 1 and hu3(p, r, 308) < 0.4 then null else city end as city,
    case when r = 1 and hu3(p, r, 308) < 0.4 then null else region end as region,
    case when r = 1 and hu3(p, r, 308) < 0.4 then null else postal_code end as postal_code,
    case
        when r = 1 and hu3(p, r, 308) < 0.4 then null
        when country = 'US' and hu3(p, r, 309) < 0.05 then 'USA'
        when country = 'US' and hu3(p, r, 309) < 0.08 then 'United States'
        else country
    end as country,
    case
        when len(shop_k) + len(pos_k) > 0 then 'customer'
        when subscribed = 1 then 'subscriber'
        when hu3(p, r, 310) < 0.2 then 'other'
        else 'lead'
    end as lifecycle_stage,
    ts_sql(us_of(
        case when r = 0 then b else b + (${days} - b) * hu3(p, r, 311) end
    )) as created_at,
    case
        when hu3(p, r, 312) < 0.1 then null
        else ts_sql(cap_us(us_of(
            case when r = 0 then b else b + (${days} - b) * hu3(p, r, 311) end
            + (${days} - case when r = 0 then b else b + (${days} - b) * hu3(p, r, 311) end)
            * hu3(p, r, 313)
        )))
    end as updated_at
from (select *, unnest(range(cnt_crm)) as r from persons)
