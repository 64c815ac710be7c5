-- consent/records_part-NNNN.csv: consent events per subject (email, phone or user id),
-- channel and purpose, from the collection point that recorded them. Codes as in
-- persons.sql: 0/1 email marketing granted/withdrawn (withdrawn when the person
-- unsubscribed), 2/3 sms marketing, 4/5 ads personalisation, 6 push marketing,
-- 7 ads analytics.
select
    p,
    pid,
    r,
    off_consent + r as file_row,
    concat('cns_', hex15(hx3(p, code, 361))) as consent_id,
    case when code < 2 then 'email' when code < 4 then 'phone' else 'user_id' end as subject_type,
    case
        when code < 2 then email_variant(email_local, email_dom, hi3(p, code, 362) % 100)
        when code < 4 then case
            when hu(p, 363) < 0.5 then concat('+', phone_cc, phone_nat)
            else fmt_phone(phone_cc, phone_nat, hi(p, 364))
        end
        else user_id
    end as subject_id,
    ['email', 'email', 'sms', 'sms', 'ads', 'ads', 'push', 'ads'][code + 1] as channel,
    [
        'marketing', 'marketing', 'marketing', 'marketing',
        'personalisation', 'personalisation', 'marketing', 'analytics'
    ][code + 1] as purpose,
    ['granted', 'withdrawn', 'granted', 'withdrawn', 'granted', 'withdrawn', 'granted', 'granted'][
        code + 1] as status,
    ts_iso_ms(cap_us(us_of(day))) as recorded_at,
    case code
        when 0 then ['newsletter_form', 'checkout', 'store_pos', 'account_signup'][1 + hi(p, 368) % 4]
        when 1 then ['email_unsubscribe_link', 'preference_center'][1 + hi(p, 369) % 2]
        when 2 then ['checkout', 'store_pos'][1 + hi(p, 369) % 2]
        when 3 then 'sms_stop_keyword'
        when 6 then 'mobile_app'
        else ['cookie_banner', 'privacy_settings'][1 + hi3(p, code, 370) % 2]
    end as collection_point,
    case when day < ${days} * 0.45 then 'v1.3' else 'v2.0' end as policy_version
from (
    select
        *,
        case code
            when 0 then sub_start
            when 1 then sub_hi
            when 2 then sms_day
            when 3 then sms_day + (${days} - sms_day) * hu(p, 365)
            when 4 then ads_day
            when 5 then ads_day + (${days} - ads_day) * hu(p, 366)
            else lo + (${days} - lo) * hu3(p, code, 367)
        end as day
    from (
        select
            *,
            consent_codes[r + 1] as code,
            lo + (${days} - lo) * hu(p, 371) as sms_day,
            lo + (${days} - lo) * hu(p, 372) as ads_day
        from (select *, unnest(range(cnt_consent)) as r from persons)
    )
)
