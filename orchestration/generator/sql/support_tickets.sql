-- support/tickets_part-NNNN.csv: help-desk tickets. Phone tickets often lack an email;
-- a few requesters type test@test.com or a junk phone.
select
    p,
    pid,
    r,
    off_support + r as file_row,
    concat('TCK-', upper(hex15(hx3(p, r, 374)))) as ticket_id,
    case
        when channel = 'phone' and hu3(p, r, 375) < 0.7 then null
        when hu3(p, r, 376) < 0.05 then '${junk_email}'
        else email_variant(email_local, email_dom, hi3(p, r, 377) % 100)
    end as requester_email,
    case hi3(p, r, 378) % 10
        when 0 then concat(
            name_variant(last_name, hi3(p, r, 379) % 100), ', ',
            name_variant(first_name, hi3(p, r, 380) % 100)
        )
        when 1 then name_variant(first_name, hi3(p, r, 380) % 100)
        else concat(
            name_variant(first_name, hi3(p, r, 380) % 100), ' ',
            name_variant(last_name, hi3(p, r, 379) % 100)
        )
    end as requester_name,
    case
        when channel = 'phone' or hu3(p, r, 381) < 0.15 then case
            when hu3(p, r, 382) < 0.04 then '${junk_phone}'
            when hh_phone_nat is not null and hu3(p, r, 383) < 0.3
                then fmt_phone(phone_cc, hh_phone_nat, hi3(p, r, 384))
            else fmt_phone(phone_cc, phone_nat, hi3(p, r, 384))
        end
    end as requester_phone,
    channel,
    support_subjects()[1 + hi3(p, r, 385) % len(support_subjects())] as subject,
    status,
    ['low', 'normal', 'normal', 'normal', 'high', 'urgent'][1 + hi3(p, r, 386) % 6] as priority,
    ts_iso(cap_us(us_of(day))) as created_at,
    case
        when status in ('solved', 'closed')
            then ts_iso(cap_us(us_of(day) + 600000000 + hi3(p, r, 387) % 864000000000))
    end as resolved_at,
    case
        when status in ('solved', 'closed') and hu3(p, r, 388) < 0.55
            then [1, 2, 3, 4, 4, 5, 5, 5][1 + hi3(p, r, 389) % 8]::varchar
    end as satisfaction_score
from (
    select
        *,
        case
            when day > ${days} - 5 and hu3(p, r, 372) < 0.6 then ['open', 'pending'][1 + hi3(p, r, 373) % 2]
            when hu3(p, r, 372) < 0.7 then 'solved'
            else 'closed'
        end as status
    from (
        select
            *,
            lo + (${days} - lo) * hu3(p, r, 370) as day,
            support_channels()[1 + hi3(p, r, 371) % len(support_channels())] as channel
        from (select *, unnest(range(cnt_support)) as r from persons)
    )
)
