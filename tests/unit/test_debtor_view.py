"""A debtor's stored state and counters in plain words (``gatekeeper debtor show`` and
``GET /v1/debtors/{debtor_id}`` share this reading)."""

from __future__ import annotations

from datetime import date

from gatekeeper.counters.keys import record_field, rule_code
from gatekeeper.counters.wire import base36
from gatekeeper.debtor_view import describe_debtor, render_text
from gatekeeper.localtime import day_number, month_number, week_number
from gatekeeper.policy import load_policy
from gatekeeper.stored import rule_index

POLICY = rule_index(load_policy("default").packs)
CALLS = rule_code("default/calls-per-day-per-number")
LETTERS = rule_code("default/letters-per-month")
STATE = {"v": "4", "f:cease": "1700000000000|1", "f:attorney_represented:D9": "1700000000000|1",
         "f:dispute": "1700000000000|",  # lifted: a tombstone, not a status
         "o:call": "1700000000000|1", "o:sms:0123456789abcdef": "1700000000000|1",
         "f:opt_in:email": "1700000000000|1",
         "p:timezone": "1700000000000|America/New_York", "p:dpd": "1700000000000|40",
         "cv:D1": "1700000000000|1767268800.000",
         "cs:call:*": "1700000000000|1767355200.000"}
DAY = date(2026, 1, 1)
COUNTERS = {f"{CALLS}|a1b2c3d4e5f6|{day_number(DAY)}": "1",
            f"{LETTERS}||m{month_number(DAY)}": "2",
            f"ffffff|-|w{week_number(DAY)}": "5",
            "last": "1767268800000", "g": "7",
            f"t:{rule_code('default/three-hours-between-contacts')}": "1767268800000",
            record_field("req-1"): "aAAAAAAA" + base36(1767268800000) + " 0",
            record_field("req-2"): "bAAAAAAA" + base36(1767268800000) + " 0"}


def test_statuses_opt_outs_and_profile_are_named() -> None:
    view = describe_debtor("D1", STATE, COUNTERS, POLICY)
    assert view["known"] is True and view["state_version"] == 4
    assert view["statuses"] == ["attorney represented (debt D9)", "cease"]
    assert view["opt_outs"] == ["call", "sms to one destination (hashed 0123456789abcdef)"]
    assert view["opt_ins"] == ["email"]
    assert view["profile"]["timezone"] == "America/New_York"
    assert view["profile"]["days_past_due"] == 40 and view["profile"]["region"] is None
    assert view["conversations"] == [{"debt": "D1", "at": "2026-01-01T12:00:00Z"}]
    assert view["consents"][0]["words"] == "call, any debt, until 2026-01-02T12:00:00Z"
    assert view["last_contact"] == "2026-01-01T12:00:00Z"
    assert view["decisions_on_record"] == 2
    assert view["gaps"] == ["last contact counted by default/three-hours-between-contacts, "
                            "to the debtor: 2026-01-01T12:00:00Z"]


def test_counters_name_their_rule_scope_and_local_period() -> None:
    rows = {row["rule"]: row for row in describe_debtor("D1", STATE, COUNTERS, POLICY)["counters"]}
    calls = rows["default/calls-per-day-per-number"]
    assert calls["period"] == "2026-01-01" and calls["count"] == 1
    assert calls["scope"] == "per number (hashed a1b2c3)" and calls["limit"] == 1
    assert calls["words"] == ("default/calls-per-day-per-number, per number (hashed a1b2c3), "
                              "2026-01-01: 1 (limit 1)")
    assert rows["default/letters-per-month"]["period"] == "2026-01"
    unknown = rows[None]
    assert unknown["period"] == "week of 2025-12-29"  # weeks start on Monday
    assert unknown["words"].startswith("unknown rule ffffff (not in the loaded packs)")


def test_an_unknown_debtor_says_nothing_is_stored() -> None:
    view = describe_debtor("nobody", {}, {}, POLICY)
    assert view["known"] is False and view["counters"] == []
    text = render_text(view)
    assert "nothing stored for this debtor" in text and "counters: none" in text


def test_the_text_keeps_hashes_of_numbers_out_and_reads_as_lines() -> None:
    text = render_text(describe_debtor("D1", STATE, COUNTERS, POLICY))
    assert text.splitlines()[0] == "debtor D1  (state version 4)"
    assert "  status: attorney represented (debt D9), cease" in text
    assert "a1b2c3d4e5f6" not in text  # only the start of the number's hash is printed
    assert "per number (hashed a1b2c3)" in text
    assert "decisions on record (for replays and outcomes): 2" in text
