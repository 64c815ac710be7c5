"""The cases of the one normalisation rule per identifier type
(macros/identity/normalise_identifier.sql): what a raw value becomes, or None when it is
no valid identifier. A change to the rule is a change to the macro and a row here.

Used by tests/test_normalise.py (the model int_identifiers_normalised and the warehouse
function normalise_identifier, on DuckDB and PostgreSQL) and tests/test_explain.py
(`cdp explain` finds the customer from the raw value).
"""

from __future__ import annotations

# (identifier type, raw value, country of the record or None for the default, expected)
CASES: list[tuple[str, str, str | None, str | None]] = [
    # email: trimmed, lower case, plus tag dropped; Gmail: dots dropped, googlemail -> gmail
    ("email", "ann@x.com", None, "ann@x.com"),
    ("email", "  Ann.Lee@Example.COM ", None, "ann.lee@example.com"),
    ("email", "ann.lee+news@example.com", None, "ann.lee@example.com"),
    ("email", " A.Nn+Promo@GoogleMail.com ", None, "ann@gmail.com"),
    ("email", "B.O.B@gmail.com", "GB", "bob@gmail.com"),
    ("email", "+tag@x.com", None, None),
    ("email", "not an email", None, None),
    ("email", "ann@x", None, None),
    ("email", "ann@@x.com", None, None),
    ("email", "ann lee@x.com", None, None),
    ("email", "", None, None),
    # phone: E.164; national forms take the record's country, else the default (US)
    ("phone", "(415) 555-0100", None, "+14155550100"),
    ("phone", "415.555.0100", "us", "+14155550100"),
    ("phone", "1 415 555 0100", None, "+14155550100"),
    ("phone", "+1 (415) 555-0100", None, "+14155550100"),
    ("phone", "001 415 555 0100", None, "+14155550100"),
    ("phone", "0044 20 7946 0958", None, "+442079460958"),
    ("phone", "+44 20 7946 0958", "US", "+442079460958"),
    ("phone", "020 7946 0958", "GB", "+442079460958"),
    ("phone", "20 7946 0958", "gb", "+442079460958"),
    ("phone", "030 123456", "DE", "+4930123456"),
    ("phone", "06 12 34 56 78", "FR", "+33612345678"),
    ("phone", "612 345 678", "ES", "+34612345678"),
    ("phone", "416-555-0199", "CA", "+14165550199"),
    ("phone", "0000000000", None, None),
    ("phone", "555-0100", None, None),
    ("phone", "(415) 055-0100", None, None),
    ("phone", "+1 415 555 01", None, None),
    ("phone", "+0 1234 5678", None, None),
    ("phone", "12", None, None),
    ("phone", "n/a", None, None),
    ("phone", "0612345678", "ZZ", None),
    ("phone", "+44 1234", "GB", None),
    # other types: trimmed, empty is no value
    ("user_id", "  u1 ", None, "u1"),
    ("crm_contact_id", "C-0042", None, "C-0042"),
    ("anonymous_id", "   ", None, None),
]
