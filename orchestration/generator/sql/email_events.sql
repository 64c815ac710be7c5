-- email/events_part-NNNN.csv: ESP engagement. Subscribers receive campaign sends over
-- their subscription; some open, a few click; a few addresses bounce; unsubscribers end
-- with an unsubscribe event. The ESP keeps one address per subscriber.
--
-- Per person, rows are: n_send sends (s = r), n_open opens (of sends spread over the
-- subscription), n_click clicks (on the first opened sends), the bounce (of the last
-- send), the unsubscribe.
select
    p,
    pid,
    r,
    off_email + r as file_row,
    concat('evt_', hex15(hx3(p, r, 351))) as event_id,
    email_variant(email_local, email_dom, hi(p, 70) % 100) as email,
    ['send', 'open', 'click', 'bounce', 'unsubscribe'][kind + 1] as event_type,
    case when kind < 4 then concat('cmp_', week::varchar) end as campaign_id,
    case
        when kind < 4 then concat(
            campaign_themes()[1 + week % len(campaign_themes())], ' ',
            date_str(week * 604800000000)
        )
    end as campaign_name,
    ts_iso(cap_us(case kind
        when 0 then send_us
        when 1 then open_us
        when 2 then open_us + 20000000 + hi3(p, s, 353) % 580000000
        when 3 then send_us + 2000000 + hi3(p, s, 354) % 118000000
        else us_of(sub_hi)
    end)) as occurred_at,
    case
        when kind = 2 then concat(
            '${site}/p/', lower(product_sku()[1 + hi3(p, s, 355) % ${n_products}]),
            '?utm_source=email&utm_campaign=cmp_', week::varchar
        )
    end as link_url,
    case when kind = 3 then case when hu(p, 356) < 0.3 then 'soft' else 'hard' end end as bounce_type
from (
    select
        *,
        us_of(send_day) as send_us,
        us_of(send_day) + (-ln(1.0 - hu3(p, s, 352)) * 21600000000.0)::bigint as open_us,
        floor((${ws_day} + send_day) / 7)::bigint as week
    from (
        select
            *,
            sub_lo + (sub_hi - sub_lo) * (s + hu3(p, s, 350)) / greatest(n_send, 1) as send_day
        from (
            select
                *,
                case
                    when kind = 0 then r
                    when kind in (1, 2) then floor(
                        (r - case kind when 1 then n_send else n_send + n_open end + hu(p, 357))
                        * (n_send - n_bounce) / n_open
                    )::bigint
                    else n_send - 1
                end as s
            from (
                select
                    *,
                    case
                        when r < n_send then 0
                        when r < n_send + n_open then 1
                        when r < n_send + n_open + n_click then 2
                        when r < n_send + n_open + n_click + n_bounce then 3
                        else 4
                    end as kind
                from (
                    select
                        p, pid, email_local, email_dom, sub_lo, sub_hi, n_send, n_open, n_click,
                        n_bounce, off_email,
                        unnest(range(cnt_email)) as r
                    from persons
                )
            )
        )
    )
)
