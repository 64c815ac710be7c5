-- Macros shared by every generator query. Rendered with string.Template: $${name}
-- placeholders are filled by orchestration/generator/engine.py before running.
--
-- Randomness is a pure function of (seed, person, index, tag): the same inputs always
-- give the same value, whatever the part layout or thread count. Tags are small integer
-- constants, one per decision, so two decisions never share a draw by accident.

-- hashing -------------------------------------------------------------------------------
-- DuckDB's multi-argument hash() mixes its arguments weakly (the top bits of
-- hash(s, p, 1) and hash(s, p, 2) correlate), so the inputs are packed into one BIGINT
-- (person/index a < 2^31, index b < 2^19, tag t < 4096), xor-ed with a mix of the seed,
-- and hashed once. Two-argument keys use a range of b that three-argument keys never do.
create macro hkey2(a, t) as xor(a * 4294967296 + 2147483648 + t, ${seed_mix});
create macro hkey3(a, b, t) as xor(a * 4294967296 + b * 4096 + t, ${seed_mix});
create macro hx(a, t) as hash(hkey2(a, t));
create macro hx3(a, b, t) as hash(hkey3(a, b, t));
-- 63-bit non-negative integers
create macro hi(a, t) as (hash(hkey2(a, t)) >> 1)::bigint;
create macro hi3(a, b, t) as (hash(hkey3(a, b, t)) >> 1)::bigint;
create macro hi4(a, b, c, t) as (hash(hkey3(a, b * 4 + c, t)) >> 1)::bigint;
-- uniform doubles in [0, 1)
create macro hu(a, t) as (hash(hkey2(a, t)) >> 11)::double / 9007199254740992.0;
create macro hu3(a, b, t) as (hash(hkey3(a, b, t)) >> 11)::double / 9007199254740992.0;
-- standard normal (Box-Muller), uses tags t and t + 500
create macro hz(a, t) as
    sqrt(-2.0 * ln(1.0 - hu(a, t))) * cos(6.283185307179586 * hu(a, t + 500));

create macro hz3(a, b, t) as
    sqrt(-2.0 * ln(1.0 - hu3(a, b, t))) * cos(6.283185307179586 * hu3(a, b, t + 500));

-- Poisson draw by inversion of the CDF; normal approximation above a mean of 40.
create macro poisson(m, u) as case
    when m <= 0 then 0
    when m > 40 then greatest(0, round(m + sqrt(m) * sqrt(-2.0 * ln(1.0 - u))
        * cos(6.283185307179586 * (u * 7919.0 - floor(u * 7919.0)))))::int
    else list_reduce(
        range(1, (m + 6.0 * sqrt(m) + 8.0)::int),
        lambda acc, k: case when acc.c >= u then acc
            else {'n': k, 't': acc.t * m / k, 'c': acc.c + acc.t * m / k} end,
        {'n': 0, 't': exp(-m), 'c': exp(-m)}
    ).n
end;

-- identifiers -----------------------------------------------------------------------------
-- UUID version 4 layout from two 64-bit hashes.
create macro uuid_of(x, y) as
    ((((x & 18446744073709490175::ubigint) | 16384::ubigint)::uhugeint << 64)
     | ((y & 4611686018427387903::ubigint) | 9223372036854775808::ubigint)::uhugeint
    )::uuid::varchar;
-- 15 lower-case hex digits from a 64-bit hash.
create macro hex15(x) as lower(substr(to_hex(x | 9223372036854775808::ubigint), 2));

-- time --------------------------------------------------------------------------------------
-- d is a (fractional) day offset from the window start; results are epoch microseconds.
create macro us_of(d) as (${ws_us} + (d) * 86400000000.0)::bigint;
create macro cap_us(us) as least(us, ${end_us} - 1000);
create macro ts_iso_ms(us) as strftime(make_timestamp(us), '%Y-%m-%dT%H:%M:%S.%gZ');
create macro ts_iso(us) as strftime(make_timestamp(us), '%Y-%m-%dT%H:%M:%SZ');
create macro ts_sql(us) as strftime(make_timestamp(us), '%Y-%m-%d %H:%M:%S');
create macro date_str(us) as strftime(make_timestamp(us), '%Y-%m-%d');
create macro money(cents) as (cents / 100.0)::decimal(18, 2)::varchar;

-- CSV: quote a field when it holds a delimiter or a quote (RFC 4180).
create macro csvq(x) as case
    when x is null then ''
    when contains(x, ',') or contains(x, '"') then concat('"', replace(x, '"', '""'), '"')
    else x
end;

-- vocabularies (1-based lists) ------------------------------------------------------------------
create macro first_names() as ${first_names};
create macro last_names() as ${last_names};
-- the same names folded to lower-case ASCII letters, for email addresses
create macro first_names_ascii() as ${first_names_ascii};
create macro last_names_ascii() as ${last_names_ascii};
create macro cities() as ${cities};
create macro street_names() as ${street_names};
create macro street_suffixes() as ${street_suffixes};
create macro streets_gb() as ${streets_gb};
create macro streets_de() as ${streets_de};
create macro streets_fr() as ${streets_fr};
create macro email_domains_us() as ${email_domains_us};
create macro email_domains_intl() as ${email_domains_intl};
create macro product_sku() as ${product_sku};
create macro product_name() as ${product_name};
create macro product_category() as ${product_category};
create macro product_price() as ${product_price};
create macro product_props() as ${product_props};
create macro product_page_props() as ${product_page_props};
create macro product_page_ctx() as ${product_page_ctx};
create macro page_props() as ${page_props};
create macro page_ctx() as ${page_ctx};
create macro search_terms() as ${search_terms};
create macro referrers() as ${referrers};
create macro user_agents() as ${user_agents};
create macro libraries() as ${libraries};
create macro support_subjects() as ${support_subjects};
create macro support_channels() as ${support_channels};
create macro campaign_themes() as ${campaign_themes};
create macro payment_methods() as ${payment_methods};

-- people: formatting variants ------------------------------------------------------------------
-- (concat() rather than || chains: one allocation per value, several times faster)

-- v in [0, 100): most values leave the name as it is.
create macro name_variant(name, v) as case
    when v < 76 then name
    when v < 86 then strip_accents(name)
    when v < 90 then replace(replace(replace(replace(name, 'ü', 'ue'), 'ö', 'oe'), 'ä', 'ae'), 'ß', 'ss')
    when v < 95 and length(name) >= 4 then concat(
        -- two neighbouring letters swapped (a typo)
        substr(name, 1, 1 + v % (length(name) - 2)),
        substr(name, 3 + v % (length(name) - 2), 1),
        substr(name, 2 + v % (length(name) - 2), 1),
        substr(name, 4 + v % (length(name) - 2))
    )
    when v < 98 then lower(name)
    else upper(name)
end;

-- The same mailbox written differently: casing, whitespace, gmail dots, plus tags.
create macro email_variant(loc, dom, v) as case
    when v < 62 then concat(loc, '@', dom)
    when v < 69 then concat(upper(substr(loc, 1, 1)), substr(loc, 2), '@', dom)
    when v < 72 then upper(concat(loc, '@', dom))
    when v < 77 then concat(' ', loc, '@', dom, '  ')
    when v < 85 and dom = 'gmail.com' then concat(replace(loc, '.', ''), '@', dom)
    when v < 85 then concat(loc, '@', dom, ' ')
    when v < 91 then concat(loc, '+', ['shop', 'news', 'larkspur', 'deals'][1 + v % 4], '@', dom)
    when v < 96 then concat(loc, '@', upper(substr(dom, 1, 1)), substr(dom, 2))
    when dom = 'gmail.com' then concat(substr(loc, 1, 1), '.', substr(loc, 2), '@', dom)
    else concat(loc, '@', dom)
end;

-- A phone number (country code, national digits) in one of many common formats.
create macro fmt_phone(cc, nat, v) as case
    when cc = '1' then case v % 9
        when 0 then concat('(', substr(nat, 1, 3), ') ', substr(nat, 4, 3), '-', substr(nat, 7))
        when 1 then concat(substr(nat, 1, 3), '.', substr(nat, 4, 3), '.', substr(nat, 7))
        when 2 then concat('+1 ', substr(nat, 1, 3), ' ', substr(nat, 4, 3), ' ', substr(nat, 7))
        when 3 then concat('1-', substr(nat, 1, 3), '-', substr(nat, 4, 3), '-', substr(nat, 7))
        when 4 then nat
        when 5 then concat(substr(nat, 1, 3), '-', substr(nat, 4, 3), '-', substr(nat, 7))
        when 6 then concat('+1', nat)
        when 7 then concat('(', substr(nat, 1, 3), ')', substr(nat, 4, 3), '-', substr(nat, 7))
        else concat('(', substr(nat, 1, 3), ') ', substr(nat, 4, 3), '-', substr(nat, 7))
    end
    else case v % 3
        when 0 then concat('+', cc, ' ', substr(nat, 1, 4), ' ', substr(nat, 5))
        when 1 then concat('0', substr(nat, 1, 4), ' ', substr(nat, 5))
        else concat('+', cc, nat)
    end
end;

-- National phone digits for person x: unique per person (an affine bijection), with the
-- city's area code in North America.
create macro phone_nat(country, area, x) as case country
    when 'GB' then concat('7', lpad(((x * ${phone_mult} + ${phone_add}) % 1000000000)::varchar, 9, '0'))
    when 'DE' then concat('15', lpad(((x * ${phone_mult} + ${phone_add}) % 100000000)::varchar, 8, '0'))
    when 'FR' then concat('6', lpad(((x * ${phone_mult} + ${phone_add}) % 100000000)::varchar, 8, '0'))
    else concat(area, (2000000 + (x * ${phone_mult} + ${phone_add}) % 8000000)::varchar)
end;

-- purchases ----------------------------------------------------------------------------------------
-- Day offset of purchase k of a person: the first purchase at acquisition, repeats
-- uniformly over the active span (a Poisson process, given the count).
create macro purchase_day(p, k, n0, b, lo, alen) as case
    when k = 0 and n0 = 1 then b
    else lo + alen * hu3(p, k, 34)
end;
-- Loyalty card number c (0 = first card, 1 = replacement) of person p: unique.
create macro card_number(p, c) as concat('70', lpad((
    (p * ${card_mult} + case when c = 0 then ${card_add} else ${card_add2} end) % 50000000000
    + c * 50000000000
)::varchar, 11, '0'));
create macro order_id(p, k) as concat('ord_', hex15(hx3(p, k, 260)));
create macro order_guest(p, k, wk) as wk < 2 or hu3(p, k, 261) < 0.12;
create macro n_items(p, k) as
    1 + (hu3(p, k, 270) < 0.45)::int + (hu3(p, k, 271) < 0.2)::int + (hu3(p, k, 272) < 0.07)::int;
create macro item_prod(p, k, i) as 1 + hi4(p, k, i, 273) % ${n_products};
create macro item_qty(p, k, i) as
    1 + (hi4(p, k, i, 274) % 100 < 15)::int + (hi4(p, k, i, 275) % 100 < 4)::int;
create macro item_cents(p, k, i) as item_qty(p, k, i) * product_price()[item_prod(p, k, i)];
create macro order_subtotal(p, k) as
    item_cents(p, k, 0)
    + case when n_items(p, k) > 1 then item_cents(p, k, 1) else 0 end
    + case when n_items(p, k) > 2 then item_cents(p, k, 2) else 0 end
    + case when n_items(p, k) > 3 then item_cents(p, k, 3) else 0 end;
create macro order_shipping(sub, country) as case
    when sub >= 7500 then 0 when country = 'US' then 795 else 1495 end;
create macro order_tax(sub, country) as case
    when country = 'US' then round(sub * 0.0725)::bigint else 0 end;
create macro order_total(sub, country) as
    sub + order_shipping(sub, country) + order_tax(sub, country);
create macro currency_of(country) as case country
    when 'US' then 'USD' when 'CA' then 'CAD' when 'GB' then 'GBP' else 'EUR' end;
