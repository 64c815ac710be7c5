-- web/events_part-NNNN.jsonl: Segment/RudderStack-style events, one JSON object per line.
--
-- Per person, rows are: n_sess sessions of spp events each (round-robin over the
-- person's devices), then one "Order Completed" per shop order, then 3 kiosk events
-- for people who logged in on a store kiosk. On each device the first events are
-- anonymous; an identify call with userId and traits.email marks the login, and later
-- events on that device carry both ids. About 0.5 % of rows repeat the previous event
-- (same messageId); a few rows are planted defects.
--
-- Event types: 0 identify, 1 page, 2 Product Viewed, 3 Product Added,
-- 4 Products Searched, 5 Cart Viewed, 6 Checkout Started, 7 Order Completed.
create view web_events_rows as
with expanded as (
    select
        p, pid, wk, user_id, anon_ids, dev_ctx, sl, n_dev, n_sess, spp, shop_k, shop_orders, lo,
        whi, first_name, last_name, email_local, email_dom, phone_cc, phone_nat,
        country, off_web,
        unnest(range(cnt_web)) as r
    from persons
),

flagged as (
    select
        *,
        off_web + r as file_row,
        hu3(p, r, 200) < ${rate} or off_web + r = ${forced} as is_def,
        hu3(p, r - 1, 200) < ${rate} or off_web + r - 1 = ${forced} as prev_def
    from expanded
),

deduped as (
    -- a duplicate row (odd r) repeats event r - 1 byte for byte
    select
        *,
        r % 2 = 1 and not is_def and not prev_def and hu3(p, r, 201) < 0.01 as dup
    from flagged
),

events as (
    select
        *,
        case when dup then r - 1 else r end as e,
        case
            when is_def
                then ['truncated_json', 'invalid_utf8', 'missing_message_id', 'bad_timestamp'][
                    1 + hi3(p, r, 202) % 4]
        end as defect
    from deduped
),

segments as (
    select
        *,
        n_sess * spp as nsr,
        case
            when e < n_sess * spp then 0
            when e < n_sess * spp + len(shop_k) then 1
            else 2
        end as seg,
        e // spp as s,
        e % spp as j
    from events
),

placed as (
    select
        *,
        case when seg = 0 then s % n_dev else 0 end as d,
        case when seg = 1 then shop_orders[e - nsr + 1] end as o,
        e - nsr - len(shop_k) as kq,
        hi(p, 212) % ${kiosk_count} as kid
    from segments
),

typed as (
    select
        *,
        cap_us(case seg
            when 0 then us_of(lo + (whi - lo) * (s + hu3(p, s, 203)) / n_sess)
                + j * 90000000 + hi3(p, e, 204) % 60000000
            when 1 then us_of(o.day)
                + 20000000 + hi3(p, e, 204) % 40000000
            else us_of(lo + (whi - lo) * hu(p, 205)) + kq * 45000000 + hi3(p, e, 204) % 30000000
        end) as t_us,
        case seg
            when 0 then wk = 2 and (s > sl[d + 1] or (s = sl[d + 1] and j >= 1))
            when 1 then not o.guest
            else true
        end as logged,
        case seg
            when 0 then case
                when wk = 2 and j = 1
                    and (s = sl[d + 1] or (s > sl[d + 1] and hu3(p, s, 206) < 0.1)) then 0
                when j = 0 then 1
                else [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 5, 6][1 + hi3(p, e, 207) % 13]
            end
            when 1 then 7
            else case when kq = 0 then 0 else 2 end
        end as etype,
        1 + hi3(p, e, 213) % ${n_products} as prod,
        hu3(p, e, 219) < 0.6 as product_page,
        1 + hi3(p, e, 208) % ${n_pages} as pg,
        search_terms()[1 + hi3(p, e, 209) % len(search_terms())] as term
    from placed
),

pieces as (
    select
        pid,
        file_row,
        dup,
        defect,
        p,
        r,
        uuid_of(hx3(p, e, 210), hx3(p, e, 211)) as mid,
        [
            '"type":"identify","anonymousId":"',
            '"type":"page","anonymousId":"',
            '"type":"track","event":"Product Viewed","anonymousId":"',
            '"type":"track","event":"Product Added","anonymousId":"',
            '"type":"track","event":"Products Searched","anonymousId":"',
            '"type":"track","event":"Cart Viewed","anonymousId":"',
            '"type":"track","event":"Checkout Started","anonymousId":"',
            '"type":"track","event":"Order Completed","anonymousId":"'
        ][etype + 1] as type_frag,
        case
            when seg = 2 then uuid_of(hx(1073741824 + kid, 280), hx(1073741824 + kid, 281))
            else anon_ids[d + 1]
        end as anon,
        case when logged then concat('","userId":"', user_id, '"') else '"' end as uid_frag,
        case etype
            when 0 then concat(
                ',"traits":{"email":"', email_variant(email_local, email_dom, hi3(p, e, 215) % 100),
                '","first_name":"', first_name, '","last_name":"', last_name, '"',
                case
                    when hu3(p, e, 216) < 0.3
                        then concat(',"phone":"', fmt_phone(phone_cc, phone_nat, hi3(p, e, 217)), '"')
                    else ''
                end,
                '}'
            )
            when 1 then concat(
                ',"properties":',
                case when product_page then product_page_props()[prod] else page_props()[pg] end
            )
            when 4 then concat(',"properties":{"query":"', term, '"}')
            when 7 then concat(
                ',"properties":{"order_id":"', order_id(p, o.k),
                '","revenue":', money(order_total(o.sub, country)),
                ',"currency":"', currency_of(country), '"}'
            )
            else concat(',"properties":', product_props()[prod])
        end as payload,
        case
            when seg = 2 then concat(
                ',"context":{"ip":"198.51.100.', (10 + kid)::varchar,
                '","userAgent":"${kiosk_user_agent}","library":${kiosk_library},"page":{'
            )
            else dev_ctx[d + 1]
        end as ctx_head,
        case etype
            when 0 then '"path":"/account/login","url":"${site}/account/login"'
            when 1 then case when product_page then product_page_ctx()[prod] else page_ctx()[pg] end
            when 4 then concat('"path":"/search","url":"${site}/search?q=', replace(term, ' ', '+'), '"')
            when 7 then '"path":"/checkout/confirmation","url":"${site}/checkout/confirmation"'
            else product_page_ctx()[prod]
        end as page_frag,
        case
            when seg = 0 and j = 0
                then concat(',"referrer":"', referrers()[1 + hi3(p, s, 214) % len(referrers())], '"')
            else ''
        end as ref_frag,
        ts_iso_ms(t_us) as ts,
        ts_iso_ms(least(
            t_us + case
                when hu3(p, e, 218) < 0.02 then 3600000000 + hi3(p, e, 220) % 259200000000
                else 30000 + hi3(p, e, 220) % 2500000
            end,
            greatest(t_us, ${end_us} - 1000)
        )) as sent
    from typed
)

select
    pid as person_id,
    file_row,
    mid as rid,
    dup,
    defect,
    case defect
        when 'missing_message_id' then concat(
            '{', type_frag, anon, uid_frag, payload, ctx_head, page_frag, ref_frag,
            '}},"timestamp":"', ts, '","sentAt":"', sent, '"}'
        )
        when 'bad_timestamp' then concat(
            '{"messageId":"', mid, '",', type_frag, anon, uid_frag, payload, ctx_head, page_frag,
            ref_frag, '}},"timestamp":"',
            ['2026-02-30T10:15:00.000Z', 'not a date', '31/12/2025 14:00'][1 + hi3(p, r, 221) % 3],
            '","sentAt":"', sent, '"}'
        )
        when 'invalid_utf8' then concat(
            '{"messageId":"', mid, '",', type_frag, anon, uid_frag,
            ',"properties":{"title":"Caf', chr(1), ' Collection"}', ctx_head, page_frag, ref_frag,
            '}},"timestamp":"', ts, '","sentAt":"', sent, '"}'
        )
        when 'truncated_json' then left(
            concat(
                '{"messageId":"', mid, '",', type_frag, anon, uid_frag, payload, ctx_head, page_frag,
                ref_frag, '}},"timestamp":"', ts, '","sentAt":"', sent, '"}'
            ),
            30 + hi3(p, r, 222) % 150
        )
        else concat(
            '{"messageId":"', mid, '",', type_frag, anon, uid_frag, payload, ctx_head, page_frag,
            ref_frag, '}},"timestamp":"', ts, '","sentAt":"', sent, '"}'
        )
    end as line
from pieces
