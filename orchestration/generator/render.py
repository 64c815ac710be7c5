"""Render the generator's SQL: template parameters and vocabulary list literals."""

from __future__ import annotations

import json
import unicodedata
from datetime import date
from functools import cache
from importlib import resources
from string import Template

from . import vocab as v

# Odd and not a multiple of 3 or 5: coprime with every modulus used below, so the
# affine maps x -> (x * MULT + add) % mod are bijections on [0, mod).
MULT = 2654435761


def sql_text(name: str) -> str:
    return (
        resources.files("orchestration.generator").joinpath("sql").joinpath(name).read_text("utf-8")
    )


def render(name: str, params: dict[str, object]) -> str:
    return Template(sql_text(name)).substitute({k: str(val) for k, val in params.items()})


def _cities() -> tuple[list[dict], str]:
    """Flat city list (SQL literal) and the SQL expression choosing a city index."""
    flat: list[dict] = []
    branches = []
    for country, cum_share, cities, cc in v.COUNTRIES:
        start = len(flat)
        for city, region, postal, area in cities:
            flat.append(
                {
                    "city": city,
                    "region": region,
                    "country": country,
                    "postal": postal,
                    "area": area,
                    "cc": cc,
                }
            )
        branches.append(
            f"when hu(head, 3) < {cum_share} then {start + 1} + hi(head, 4) % {len(cities)}"
        )
    expr = (
        "case " + " ".join(branches[:-1]) + " else " + branches[-1].split(" then ", 1)[1] + " end"
    )
    return flat, expr


def _struct_list(rows: list[dict]) -> str:
    items = []
    for row in rows:
        fields = ", ".join(f"'{k}': {v.sql_str(str(val))}" for k, val in row.items())
        items.append("{" + fields + "}")
    return "[" + ", ".join(items) + "]"


_FOLD = str.maketrans({"ø": "o", "Ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d"})


def ascii_fold(name: str) -> str:
    """'José' -> 'jose', "O'Brien" -> 'obrien': the letters a person types in an email."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_FOLD))
    return "".join(ch for ch in decomposed.lower() if "a" <= ch <= "z")


def _js(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@cache
def vocabulary() -> dict[str, str]:
    """Template parameters for macros.sql that do not depend on the run."""
    cities, city_ix_expr = _cities()
    products = v.PRODUCTS
    product_props, product_page_props, product_page_ctx = [], [], []
    for sku, name, _category, cents in products:
        path = "/p/" + sku.lower()
        product_props.append(_js({"product_id": sku, "name": name, "price": cents / 100}))
        product_page_props.append(_js({"path": path, "url": v.SITE + path, "title": name}))
        product_page_ctx.append(_js({"path": path, "url": v.SITE + path})[1:-1])
    page_props = [_js({"path": p, "url": v.SITE + p, "title": t}) for p, t in v.PAGES]
    page_ctx = [_js({"path": p, "url": v.SITE + p})[1:-1] for p, _ in v.PAGES]
    return {
        "first_names": v.sql_list(v.FIRST_NAMES),
        "last_names": v.sql_list(v.LAST_NAMES),
        "first_names_ascii": v.sql_list([ascii_fold(n) for n in v.FIRST_NAMES]),
        "last_names_ascii": v.sql_list([ascii_fold(n) for n in v.LAST_NAMES]),
        "cities": _struct_list(cities),
        "city_ix_expr": city_ix_expr,
        "street_names": v.sql_list(v.STREET_NAMES),
        "street_suffixes": v.sql_list(v.STREET_SUFFIXES),
        "streets_gb": v.sql_list(v.STREETS_GB),
        "streets_de": v.sql_list(v.STREETS_DE),
        "streets_fr": v.sql_list(v.STREETS_FR),
        "email_domains_us": v.sql_list(v.EMAIL_DOMAINS_US),
        "email_domains_intl": v.sql_list(v.EMAIL_DOMAINS_INTL),
        "product_sku": v.sql_list([p[0] for p in products]),
        "product_name": v.sql_list([p[1] for p in products]),
        "product_category": v.sql_list([p[2] for p in products]),
        "product_price": v.sql_int_list([p[3] for p in products]),
        "product_props": v.sql_list(product_props),
        "product_page_props": v.sql_list(product_page_props),
        "product_page_ctx": v.sql_list(product_page_ctx),
        "page_props": v.sql_list(page_props),
        "page_ctx": v.sql_list(page_ctx),
        "search_terms": v.sql_list(v.SEARCH_TERMS),
        "referrers": v.sql_list(v.REFERRERS),
        "user_agents": v.sql_list(v.USER_AGENTS),
        "libraries": v.sql_list(v.LIBRARIES),
        "support_subjects": v.sql_list(v.SUPPORT_SUBJECTS),
        "support_channels": v.sql_list(v.SUPPORT_CHANNELS),
        "campaign_themes": v.sql_list(v.CAMPAIGN_THEMES),
        "payment_methods": v.sql_list(v.STORE_PAYMENT_METHODS),
        "n_products": str(len(products)),
        "n_pages": str(len(v.PAGES)),
        "kiosk_count": str(v.KIOSK_COUNT),
        "store_count": str(v.STORE_COUNT),
        "site": v.SITE,
        "kiosk_user_agent": v.KIOSK_USER_AGENT,
        "kiosk_library": v.LIBRARIES[0],
    }


def epoch_us(day: date) -> int:
    """Microseconds from 1970-01-01 to the start (UTC) of `day`."""
    return (day - date(1970, 1, 1)).days * 86_400_000_000


def _seed_mix(seed: int) -> int:
    """splitmix64 of the seed, as a signed 64-bit integer."""
    z = (seed + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z ^= z >> 31
    return z - (1 << 64) if z >= 1 << 63 else z


def run_params(customers: int, seed: int, end_date: date, days: int) -> dict[str, object]:
    """Template parameters that depend on the run but not on the part."""
    start_day = date.fromordinal(end_date.toordinal() - days)
    email_mod = 10 ** max(4, len(str(customers)))
    return {
        **vocabulary(),
        "seed": seed,
        "seed_mix": _seed_mix(seed),
        "days": days,
        "ws_us": epoch_us(start_day),
        "end_us": epoch_us(end_date),
        "ws_day": (start_day - date(1970, 1, 1)).days,
        "email_mult": MULT % email_mod,
        "email_add": (seed * 7919 + 1) % email_mod,
        "email_mod": email_mod,
        "phone_mult": MULT,
        "phone_add": (seed * 104729 + 17) % 8_000_000,
        "card_mult": MULT,
        "card_add": (seed * 15485863 + 3) % 50_000_000_000,
        "card_add2": (seed * 49979687 + 11) % 50_000_000_000,
        "crm_mult": MULT,
        "crm_add": (seed * 32452843 + 5) % 4_500_000_000,
        "pid_width": max(7, len(str(customers - 1))),
    }
