"""min_gap: at least N hours (or minutes) of elapsed time between contacts, per debtor or per
destination; which channels it holds and which it counts; the end of the gap then the other
time rules as retry_at; across DST changes and local midnight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders import HASHER, at, request

from gatekeeper.model import DebtorState
from gatekeeper.plan import Plan, make_plan
from gatekeeper.policy import load_policy
from gatekeeper.policy.describe import describe
from gatekeeper.policy.load import parse_pack
from gatekeeper.verdict import StoreResult, decide

PACK = """
pack: slot
title: the same time slot
applies_to: ["*"]
rules:
  - id: three-hours
    kind: min_gap
    citation: house
    channels: [call, sms, visit]
    purposes: [collection, legal_notice]
    hours: 3
  - id: quiet
    kind: hours
    citation: house
    channels: [call, sms, email, visit]
    windows: {daily: ["08:00-21:00"]}
"""
NY = {"timezone": "America/New_York", "region": "US"}


@pytest.fixture
def slot(tmp_path: Path) -> str:
    path = tmp_path / "slot.yaml"
    path.write_text(PACK)
    return str(path)


def planned(packs: str, when: str, **fields: Any) -> Plan:
    fields.setdefault("debtor", NY)
    return make_plan(request(**fields), load_policy(packs), DebtorState(), at(when), HASHER)


def verdict(p: Plan, since: str | None) -> dict[str, Any]:
    counts = tuple((0,) * len(check.fields) for check in p.checks)
    gaps = tuple(at(since).timestamp() if since else None for _ in p.gaps)
    return decide(p, StoreResult("blocked", counts, gaps=gaps))


def blocking(decision: dict[str, Any]) -> list[str]:
    return [r["rule"] for r in decision["reasons"]]


def test_the_rule_holds_its_channels_and_counts_them(slot: str) -> None:
    call = planned(slot, "2026-03-02T17:00:00Z")
    assert [(g.rule.name, g.seconds) for g in call.gaps] == [("slot/three-hours", 3 * 3600)]
    assert call.gap_writes == (call.gaps[0].field,)
    email = planned(slot, "2026-03-02T17:00:00Z", channel="email", destination="d@example.com")
    assert email.gaps == () and email.gap_writes == ()  # neither held nor counted


def test_a_purpose_it_does_not_hold_still_counts(slot: str) -> None:
    confirmation = planned(slot, "2026-03-02T17:00:00Z", channel="sms",
                           purpose="opt_out_confirmation")
    assert confirmation.gaps == ()
    assert confirmation.gap_writes == (planned(slot, "2026-03-02T17:00:00Z").gaps[0].field,)


def test_after_counts_channels_the_rule_does_not_hold(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("pack: p\ntitle: t\napplies_to: ['US']\nrules:\n"
                    "  - {id: g, kind: min_gap, citation: c, channels: [call], hours: 2, "
                    "after: [call, letter]}\n"
                    "  - {id: later, kind: min_gap, citation: c, hours: 2, "
                    "effective_from: 2027-01-01}\n")
    letter = planned(str(path), "2026-03-02T17:00:00Z", channel="letter", destination="1 Main")
    assert letter.gaps == () and len(letter.gap_writes) == 1  # counted, not held
    sms = planned(str(path), "2026-03-02T17:00:00Z", channel="sms")
    assert sms.gaps == () and sms.gap_writes == ()
    abroad = planned(str(path), "2026-03-02T17:00:00Z", channel="letter", destination="1 Main",
                     debtor={"timezone": "Europe/London", "region": "GB"})
    assert abroad.gap_writes == ()  # the pack does not apply to the debtor: nothing kept


def test_per_destination_keeps_one_hashed_field_per_number(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("pack: p\ntitle: t\napplies_to: ['*']\nrules:\n"
                    "  - {id: g, kind: min_gap, citation: c, channels: [call], minutes: 5, "
                    "per: destination}\n")
    one = planned(str(path), "2026-03-02T17:00:00Z", destination="+12125550100")
    other = planned(str(path), "2026-03-02T17:00:00Z", destination="+12125550199")
    assert one.gaps[0].field != other.gaps[0].field
    assert "2125550100" not in one.gaps[0].field and one.gaps[0].field.startswith("t:")
    assert one.gaps[0].seconds == 300


@pytest.mark.parametrize(("now", "held"), [
    ("2026-03-02T19:59:59Z", True),
    ("2026-03-02T19:59:59.999Z", True),
    ("2026-03-02T20:00:00Z", False),  # exactly 3 hours later
])
def test_exactly_the_gap_later_is_allowed(slot: str, now: str, held: bool) -> None:
    decision = verdict(planned(slot, now), "2026-03-02T17:00:00Z")
    assert ("slot/three-hours" in blocking(decision)) is held
    if held:
        assert decision["retry_at"] == "2026-03-02T20:00:00Z"
        assert decision["reasons"][0]["message"] == (
            "last call, text or visit to this debtor 2026-03-02T17:00:00Z; at least 3 hours "
            "must pass")
        assert decision["reasons"][0]["limit"] == 3


def test_retry_at_is_the_end_of_the_gap_then_the_other_time_rules(slot: str) -> None:
    # last call 19:30 EST; at 20:00 the gap runs to 22:30, inside the quiet hours
    decision = verdict(planned(slot, "2026-03-03T01:00:00Z"), "2026-03-03T00:30:00Z")
    assert blocking(decision) == ["slot/three-hours"]
    assert decision["reasons"][0]["retry_at"] == "2026-03-03T03:30:00Z"
    assert decision["retry_at"] == "2026-03-03T13:00:00Z"  # 08:00 EST the next morning


@pytest.mark.parametrize(("now", "held"), [
    ("2026-03-08T09:29:59Z", True),   # 05:29:59 EDT: four wall-clock hours, three elapsed
    ("2026-03-08T09:30:00Z", False),
])
def test_the_gap_is_elapsed_time_across_the_spring_dst_change(tmp_path: Path, now: str,
                                                              held: bool) -> None:
    # last call 01:30 EST on 8 March 2026; at 02:00 the clocks go to 03:00 EDT
    path = tmp_path / "p.yaml"
    path.write_text("pack: p\ntitle: t\napplies_to: ['*']\nrules:\n"
                    "  - {id: g, kind: min_gap, citation: c, hours: 3}\n")
    decision = verdict(planned(str(path), now), "2026-03-08T06:30:00Z")
    assert ("p/g" in blocking(decision)) is held
    if held:
        assert decision["retry_at"] == "2026-03-08T09:30:00Z"


@pytest.mark.parametrize(("now", "held"), [
    ("2026-11-01T07:29:59Z", True),   # 02:29:59 EST: two wall-clock hours, three elapsed less 1s
    ("2026-11-01T07:30:00Z", False),
])
def test_the_gap_is_elapsed_time_across_the_autumn_dst_change(tmp_path: Path, now: str,
                                                              held: bool) -> None:
    # last call 00:30 EDT on 1 November 2026; at 02:00 EDT the clocks go back to 01:00 EST
    path = tmp_path / "p.yaml"
    path.write_text("pack: p\ntitle: t\napplies_to: ['*']\nrules:\n"
                    "  - {id: g, kind: min_gap, citation: c, hours: 3}\n")
    decision = verdict(planned(str(path), now), "2026-11-01T04:30:00Z")
    assert ("p/g" in blocking(decision)) is held


def test_local_midnight_does_not_end_the_gap(tmp_path: Path) -> None:
    # last call 23:00 local in Tokyo (14:00Z); at 00:30 the next local day it still holds
    path = tmp_path / "p.yaml"
    path.write_text("pack: p\ntitle: t\napplies_to: ['*']\nrules:\n"
                    "  - {id: g, kind: min_gap, citation: c, hours: 3}\n")
    tokyo = {"timezone": "Asia/Tokyo"}
    p = planned(str(path), "2026-03-02T15:30:00Z", debtor=tokyo, destination="+81312345678")
    assert p.local_day.isoformat() == "2026-03-03"
    decision = verdict(p, "2026-03-02T14:00:00Z")
    assert blocking(decision) == ["p/g"] and decision["retry_at"] == "2026-03-02T17:00:00Z"


def test_no_contact_on_record_holds_nothing(slot: str) -> None:
    assert verdict(planned(slot, "2026-03-02T17:00:00Z"), None)["decision"] == "allowed"


def test_a_shadow_gap_is_reported_and_never_blocks(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("pack: p\ntitle: t\napplies_to: ['*']\nrules:\n"
                    "  - {id: g, kind: min_gap, citation: c, minutes: 5, shadow: true}\n")
    decision = verdict(planned(str(path), "2026-03-02T17:04:00Z"), "2026-03-02T17:00:00Z")
    assert decision["decision"] == "allowed" and decision["retry_at"] is None
    assert [r["rule"] for r in decision["shadow"]] == ["p/g"]
    assert decision["shadow"][0]["message"].endswith("at least 5 minutes must pass")


def test_the_counters_live_as_long_as_the_longest_gap() -> None:
    pack = parse_pack("pack: p\ntitle: t\napplies_to: ['*']\nrules:\n"
                      "  - {id: g, kind: min_gap, citation: c, hours: 50}\n", "p.yaml")
    assert pack.rules[0].params.window_days == 3


def test_policy_show_words_the_gap(slot: str) -> None:
    text = describe(load_policy(slot).packs[0])
    assert ("rule: none within 3 hours after the last allowed contact on the channels above to "
            "the debtor, on any number or address, whatever its purpose (exactly 3 hours later "
            "is allowed)") in text
    one = parse_pack("pack: p\ntitle: t\napplies_to: ['*']\nrules:\n"
                     "  - {id: g, kind: min_gap, citation: c, channels: [call], minutes: 1, "
                     "per: destination, after: [call, sms]}\n", "p.yaml")
    assert ("rule: none within 1 minute after the last allowed call or text to the same number "
            "or address, whatever its purpose (exactly 1 minute later is allowed)"
            ) in describe(one)
