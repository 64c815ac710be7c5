"""`cdp explain` on a hand-made identity warehouse: chains, guards, history, bad input."""

from __future__ import annotations

import io
import shutil
from datetime import datetime

import duckdb
import pytest
from normalise_cases import CASES
from rich.console import Console
from support import run_dbt

from orchestration.identity.candidates import candidates
from orchestration.identity.explain import explain
from orchestration.identity.render import render
from orchestration.warehouse import WarehouseError, resolve_warehouse

T = datetime(2024, 1, 1)
SHARED_PHONE = "+14155550100"
SHARED_REASON = "shared by records with 2 different email values (one person has at most 1)"
BLOCK_REASON = "exact test@test.com: placeholder address typed into forms"

# (source, record, type, raw value, normalised value or None, seen_at)
NORMALISED = [
    # customer cus_ann: email -> user_id -> anonymous_id over three records
    ("crm_contacts", "c1", "email", "Ann@X.com", "ann@x.com", datetime(2024, 1, 1)),
    ("crm_contacts", "c1", "phone", "(415) 555-0100", SHARED_PHONE, datetime(2024, 1, 1)),
    ("crm_contacts", "c1", "email", "TEST@test.com", "test@test.com", datetime(2024, 1, 1)),
    ("shop_orders", "o1", "email", "ann@x.com", "ann@x.com", datetime(2024, 2, 1)),
    ("shop_orders", "o1", "user_id", "u1", "u1", datetime(2024, 2, 1)),
    ("web_events", "w1", "user_id", "u1", "u1", datetime(2024, 3, 1)),
    ("web_events", "w1", "anonymous_id", "a1", "a1", datetime(2024, 3, 1)),
    ("web_events", "w1", "phone", "12", None, datetime(2024, 3, 1)),
    # customer cus_bob: shares the guarded phone, gmail address
    ("crm_contacts", "c2", "email", "bobby@gmail.com", "bobby@gmail.com", datetime(2024, 1, 5)),
    ("crm_contacts", "c2", "phone", "415-555-0100", SHARED_PHONE, datetime(2024, 1, 5)),
    # a record with nothing but the blocklisted address: no customer
    ("email_events", "e9", "email", "test@test.com", "test@test.com", datetime(2024, 4, 1)),
]
GUARDED = {("phone", SHARED_PHONE), ("email", "test@test.com")}
CUSTOMER_OF = {
    "email:ann@x.com": "cus_ann",
    "user_id:u1": "cus_ann",
    "anonymous_id:a1": "cus_ann",
    "email:bobby@gmail.com": "cus_bob",
}
AUDIT = [
    ("phone", SHARED_PHONE, "(415) 555-0100", "shared_value", SHARED_REASON, 2, 1),
    ("email", "test@test.com", "TEST@test.com", "blocklist", BLOCK_REASON, 2, 2),
    ("phone", "12", "12", "invalid_format", "not a valid phone", 1, 1),
]
HISTORY = [
    (
        "cus_old",
        "cus_ann",
        datetime(2024, 5, 1),
        "merge",
        "merged into the older customer cus_ann: their identifiers are now linked",
        1,
    )
]


def _build(
    path,
    normalised=NORMALISED,
    customer_of=CUSTOMER_OF,
    guarded=GUARDED,
    audit=AUDIT,
    history=HISTORY,
) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists intermediate")
        con.execute("create schema if not exists marts")
        con.execute(
            "create table intermediate.int_identifiers_normalised (source varchar, "
            "source_record_id varchar, identifier_type varchar, raw_value varchar, "
            "identifier_value varchar, seen_at timestamp, loaded_at timestamp)"
        )
        con.executemany(
            "insert into intermediate.int_identifiers_normalised values (?, ?, ?, ?, ?, ?, ?)",
            [(*row, T) for row in normalised],
        )
        con.execute(
            "create table intermediate.int_identifiers_kept as "
            "select source, source_record_id, identifier_type, identifier_value, "
            "concat(identifier_type, ':', identifier_value) as node_key, seen_at, loaded_at "
            "from intermediate.int_identifiers_normalised where identifier_value is not null"
        )
        for kind, value in guarded:
            con.execute(
                "delete from intermediate.int_identifiers_kept "
                "where identifier_type = ? and identifier_value = ?",
                [kind, value],
            )
        con.execute(
            "create table intermediate.int_customer_ids_assigned (node_key varchar, "
            "component_id bigint, customer_id varchar, customer_id_created_at timestamp, "
            "previous_customer_id varchar, assigned_at timestamp)"
        )
        con.executemany(
            "insert into intermediate.int_customer_ids_assigned values (?, ?, ?, ?, ?, ?)",
            [
                (key, sorted(set(customer_of.values())).index(cid), cid, T, None, T)
                for key, cid in customer_of.items()
            ],
        )
        con.execute(
            "create table marts.bdg_customer_identifiers as "
            "select k.identifier_type, k.identifier_value, a.customer_id, count(*) as record_count, "
            "min(k.seen_at) as first_seen_at, max(k.seen_at) as last_seen_at "
            "from intermediate.int_identifiers_kept k "
            "join intermediate.int_customer_ids_assigned a using (node_key) "
            "group by all"
        )
        con.execute(
            "create table marts.bdg_customer_source_records as "
            "select k.source, k.source_record_id, min(a.customer_id) as customer_id, "
            "min(k.seen_at) as seen_at, count(*) as identifier_count "
            "from intermediate.int_identifiers_kept k "
            "join intermediate.int_customer_ids_assigned a using (node_key) "
            "group by all"
        )
        con.execute(
            "create table marts.dim_customers (customer_id varchar, email varchar, "
            "phone varchar, first_name varchar, last_name varchar, city varchar, "
            "country varchar, sources varchar, source_record_count bigint, "
            "identifier_count bigint)"
        )
        con.executemany(
            "insert into marts.dim_customers values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    "cus_ann",
                    "ann@x.com",
                    None,
                    "Ann",
                    "Lee",
                    "Oslo",
                    "NO",
                    "crm_contacts, shop_orders, web_events",
                    3,
                    3,
                ),
                ("cus_bob", "bobby@gmail.com", None, "Bob", "By", None, "US", "crm_contacts", 1, 1),
            ],
        )
        con.execute(
            "create table marts.identity_guard_audit (identifier_type varchar, "
            "identifier_value varchar, raw_value_example varchar, guard_rule varchar, "
            "guard_reason varchar, record_count bigint, source_count bigint, "
            "first_seen_at timestamp, last_seen_at timestamp)"
        )
        if audit:
            con.executemany(
                "insert into marts.identity_guard_audit values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row, T, T) for row in audit],
            )
        con.execute(
            "create table marts.customer_id_history (old_customer_id varchar, "
            "new_customer_id varchar, changed_at timestamp, change_type varchar, "
            "reason varchar, identifiers_moved bigint)"
        )
        if history:
            con.executemany(
                "insert into marts.customer_id_history values (?, ?, ?, ?, ?, ?)", history
            )
    finally:
        con.close()


@pytest.fixture(scope="module")
def with_rule(tmp_path_factory):
    """A DuckDB file with what a dbt run leaves for `cdp explain` besides the tables: the
    calling codes seed and, from the on-run-end hook, the function normalise_identifier."""
    path = tmp_path_factory.mktemp("rule") / "identity.duckdb"
    proc = run_dbt("seed", "--select", "country_calling_codes", CDP_DUCKDB_PATH=str(path))
    assert proc.returncode == 0, proc.stdout[-3000:]
    return path


@pytest.fixture
def target(tmp_path, monkeypatch, with_rule):
    path = tmp_path / "identity.duckdb"
    shutil.copy(with_rule, path)
    _build(path)
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(path))
    return resolve_warehouse("duckdb")


def _rendered(explanation) -> str:
    out = io.StringIO()
    render(explanation, Console(file=out, width=250, highlight=False, color_system=None))
    return out.getvalue()


def test_customer_chain_follows_email_user_id_anonymous_id(target):
    e = explain(target, "cus_ann")
    assert e.resolved_as == "customer_id"
    assert [c.customer_id for c in e.customers] == ["cus_ann"]
    c = e.customer
    assert c.golden["email"] == "ann@x.com"
    assert c.golden["first_name"] == "Ann"
    assert [s.describe() for s in c.chain] == [
        "email:ann@x.com (start)",
        "email:ann@x.com --(shop_orders:o1)--> user_id:u1",
        "user_id:u1 --(web_events:w1)--> anonymous_id:a1",
    ]
    assert [s.depth for s in c.chain] == [0, 1, 2]
    assert c.chain[0].records_by_source == (("crm_contacts", 1), ("shop_orders", 1))
    assert c.identifiers_total == 3 and c.chain_complete and c.identifiers_not_shown == 0
    assert dict(c.records_by_source) == {"crm_contacts": 1, "shop_orders": 1, "web_events": 1}


def test_customer_lists_identifiers_the_guards_kept_out(target):
    c = explain(target, "cus_ann").customer
    rules = {(g.identifier_type, g.identifier_value): g for g in c.guarded}
    assert set(rules) == {("phone", SHARED_PHONE), ("email", "test@test.com"), ("phone", "12")}
    assert rules[("phone", SHARED_PHONE)].guard_rule == "shared_value"
    assert rules[("phone", SHARED_PHONE)].guard_reason == SHARED_REASON
    assert rules[("email", "test@test.com")].guard_rule == "blocklist"
    assert rules[("email", "test@test.com")].records_here == 1
    assert rules[("email", "test@test.com")].record_count == 2
    assert rules[("phone", "12")].guard_rule == "invalid_format"
    assert c.guarded_total == 3
    assert explain(target, "cus_bob").customer.guarded[0].guard_rule == "shared_value"


def test_queried_identifier_is_the_start_of_the_walk(target):
    e = explain(target, "u1")
    assert e.resolved_as == "identifier"
    assert [(m.node_key, m.customer_id, m.matched_as) for m in e.matches] == [
        ("user_id:u1", "cus_ann", "exact")
    ]
    assert [s.describe() for s in e.customer.chain] == [
        "user_id:u1 (start)",
        "user_id:u1 --(shop_orders:o1)--> email:ann@x.com",
        "user_id:u1 --(web_events:w1)--> anonymous_id:a1",
    ]


@pytest.mark.parametrize(
    ("query", "matched_as", "customer"),
    [
        ("  Ann@X.COM ", "lower-cased", "cus_ann"),
        ("Bob.By+news@googlemail.com", "normalised email", "cus_bob"),
    ],
)
def test_identifier_found_through_its_normalised_form(target, query, matched_as, customer):
    e = explain(target, query)
    assert [(m.customer_id, m.matched_as) for m in e.matches] == [(customer, matched_as)]
    assert e.customer.customer_id == customer
    assert e.customer.chain[0].node_key == e.matches[0].node_key


def test_blocklisted_email_is_reported_with_rule_and_customers(target):
    e = explain(target, "test@test.com")
    assert e.resolved_as == "guarded value"
    assert e.matches == [] and e.customers == []
    [g] = e.guards
    assert (g.identifier_type, g.guard_rule, g.guard_reason) == ("email", "blocklist", BLOCK_REASON)
    assert g.customers == (("cus_ann", 1),)
    assert g.customers_total == 1
    assert g.records_without_customer == 1
    text = _rendered(e)
    assert "rule:    blocklist" in text
    assert "cus_ann (1 record)" in text


def test_shared_phone_typed_nationally_is_found_as_guarded(target):
    e = explain(target, "(415) 555-0100")
    [g] = e.guards
    assert (g.identifier_value, g.guard_rule) == (SHARED_PHONE, "shared_value")
    assert g.customers == (("cus_ann", 1), ("cus_bob", 1))
    assert g.records_without_customer == 0


def test_invalid_value_is_reported_as_invalid_format(target):
    [g] = explain(target, "12").guards
    assert (g.identifier_type, g.guard_rule) == ("phone", "invalid_format")
    assert g.customers == (("cus_ann", 1),)


def test_unknown_query_raises_one_line_value_error(target):
    with pytest.raises(ValueError) as info:
        explain(target, "nobody@nowhere.org")
    message = str(info.value)
    assert "nobody@nowhere.org" in message
    assert "\n" not in message
    with pytest.raises(ValueError, match="nothing to explain"):
        explain(target, "   ")


def test_merged_customer_id_leads_to_the_survivor(target):
    e = explain(target, "cus_old")
    assert e.resolved_as == "merged customer_id"
    assert e.customer.customer_id == "cus_ann"
    assert [(h.old_customer_id, h.new_customer_id, h.change_type) for h in e.customer.history] == [
        ("cus_old", "cus_ann", "merge")
    ]
    assert explain(target, "cus_bob").customer.history == []


def test_chain_is_capped_with_a_count_of_the_rest(target):
    c = explain(target, "cus_ann", max_identifiers=2).customer
    assert [s.node_key for s in c.chain] == ["email:ann@x.com", "user_id:u1"]
    assert not c.chain_complete
    assert c.identifiers_not_shown == 1
    assert "… and 1 more identifiers" in _rendered(explain(target, "cus_ann", max_identifiers=2))


def test_render_prints_golden_record_chain_guards_and_history(target):
    text = _rendered(explain(target, "cus_ann"))
    steps = [
        "email:ann@x.com (start)",
        "email:ann@x.com --(shop_orders:o1)--> user_id:u1",
        "user_id:u1 --(web_events:w1)--> anonymous_id:a1",
    ]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)
    assert text.index("golden record") < positions[0]
    assert "shared_value" in text and SHARED_REASON in text
    assert "merged into the older customer cus_ann" in text


def test_candidates_are_the_typed_forms_then_the_rule_of_each_type():
    forms = [(c.identifier_type, c.value) for c in candidates(" Ann@X.com")]
    assert forms == [(None, " Ann@X.com"), (None, "Ann@X.com"), (None, "ann@x.com")]
    rule = {("email", " A.B+x@X.com"): "a.b@x.com"}
    forms = [
        (c.label, c.identifier_type, c.value)
        for c in candidates(" A.B+x@X.com", lambda kind, value: rule.get((kind, value)))
    ]
    assert forms[-1] == ("normalised email", "email", "a.b@x.com")
    assert [f[1] for f in forms] == [None, None, None, "email"]


# The rule's cases in the default country (explain has no country to go by) whose raw
# value is not already the normalised one.
TYPED_FORMS = [
    (kind, raw, expected)
    for kind, raw, country, expected in CASES
    if country is None and expected is not None and raw != expected
]


def test_explain_finds_the_customer_from_each_typed_form_of_the_rule(
    tmp_path, monkeypatch, with_rule
):
    """Each case's normalised value is a kept identifier of a customer; explain, given the
    value as the case writes it, finds that customer through the warehouse's rule."""
    values = sorted({(kind, expected) for kind, _, expected in TYPED_FORMS})
    customer_of = {f"{kind}:{value}": f"cus_{i}" for i, (kind, value) in enumerate(values)}
    normalised = [
        ("crm_contacts", f"c{i}", kind, value, value, T) for i, (kind, value) in enumerate(values)
    ]
    path = tmp_path / "identity.duckdb"
    shutil.copy(with_rule, path)
    _build(path, normalised, customer_of, guarded=(), audit=(), history=())
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(path))
    target = resolve_warehouse("duckdb")
    assert TYPED_FORMS
    for kind, raw, expected in TYPED_FORMS:
        e = explain(target, raw)
        assert [(m.node_key, m.customer_id) for m in e.matches] == [
            (f"{kind}:{expected}", customer_of[f"{kind}:{expected}"])
        ], (kind, raw)
        assert e.customer.customer_id == customer_of[f"{kind}:{expected}"]


def test_warehouse_without_the_rule_function_says_to_run_cdp(tmp_path, monkeypatch):
    path = tmp_path / "identity.duckdb"
    _build(path)  # tables only, as a warehouse built before the function existed
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(path))
    with pytest.raises(WarehouseError) as info:
        explain(resolve_warehouse("duckdb"), "Bob.By+news@googlemail.com")
    assert "normalise_identifier" in str(info.value)
    assert str(info.value).endswith("run `cdp run` first")
    assert "\n" not in str(info.value)


TABLES = (
    "intermediate.int_identifiers_normalised",
    "intermediate.int_identifiers_kept",
    "intermediate.int_customer_ids_assigned",
    "marts.bdg_customer_identifiers",
    "marts.bdg_customer_source_records",
    "marts.dim_customers",
    "marts.identity_guard_audit",
    "marts.customer_id_history",
)
PG_TYPES = {"VARCHAR": "text", "TIMESTAMP": "timestamp", "BIGINT": "bigint"}


@pytest.mark.postgres
def test_same_explanation_on_postgres(tmp_path, pg_target):
    """The SQL is portable: the hand-made warehouse copied to Postgres explains the same."""
    proc = run_dbt("seed", "--select", "country_calling_codes", target="postgres")
    assert proc.returncode == 0, proc.stdout[-3000:]
    path = tmp_path / "identity.duckdb"
    _build(path)
    src = duckdb.connect(str(path), read_only=True)
    try:
        with pg_target.connect() as con, con.cursor() as cur:
            cur.execute("create schema if not exists intermediate; create schema marts")
            for table in TABLES:
                cols = src.execute(f"describe {table}").fetchall()
                ddl = ", ".join(f"{c[0]} {PG_TYPES[c[1]]}" for c in cols)
                cur.execute(f"create table {table} ({ddl})")
                rows = src.execute(f"select * from {table}").fetchall()
                marks = ", ".join(["%s"] * len(cols))
                cur.executemany(f"insert into {table} values ({marks})", rows)
            con.commit()
    finally:
        src.close()

    e = explain(pg_target, "cus_ann")
    assert [s.describe() for s in e.customer.chain] == [
        "email:ann@x.com (start)",
        "email:ann@x.com --(shop_orders:o1)--> user_id:u1",
        "user_id:u1 --(web_events:w1)--> anonymous_id:a1",
    ]
    assert {g.guard_rule for g in e.customer.guarded} == {
        "shared_value",
        "blocklist",
        "invalid_format",
    }
    assert e.customer.golden["city"] == "Oslo"
    [g] = explain(pg_target, "(415) 555-0100").guards
    assert g.customers == (("cus_ann", 1), ("cus_bob", 1))
    assert explain(pg_target, "cus_old").customer.customer_id == "cus_ann"
    [match] = explain(pg_target, "Bob.By+news@googlemail.com").matches
    assert (match.customer_id, match.matched_as) == ("cus_bob", "normalised email")
    with pytest.raises(ValueError):
        explain(pg_target, "nobody@nowhere.org")
