"""Vocabulary added for the jurisdiction packs: postal-code applicability, holiday
categories, non-geographic numbers, opt-in state, and every shipped pack's shape."""

from __future__ import annotations

from datetime import UTC, date, datetime

from gatekeeper.counters.keys import Hasher
from gatekeeper.localtime import candidate_zones, holiday_name
from gatekeeper.model import DebtorEvent
from gatekeeper.paths import POLICIES
from gatekeeper.policy import load_pack
from gatekeeper.policy.model import Pack
from gatekeeper.state import event_fields

HASHER = Hasher(b"k")


def test_postal_codes_narrow_a_pack_within_its_region() -> None:
    pack = Pack("p", "t", ("US-NY",), (), "p.yaml", "0", postal_codes=("100", "11004"))
    assert pack.applies("US-NY", "10001") and pack.applies("US-NY", "11004-1234")
    assert not pack.applies("US-NY", "11550") and not pack.applies("US-CA", "10001")
    assert pack.applies("US-NY", None) and pack.applies(None, None)  # unknown: conservative


def test_holiday_categories_widen_the_calendar() -> None:
    easter_monday = date(2026, 4, 6)
    assert holiday_name("CA-QC", easter_monday) is None
    assert holiday_name("CA-QC", easter_monday, ("optional", "public")) == "Easter Monday"
    assert holiday_name("CA-ON", date(2026, 12, 28)) is not None  # Boxing Day observed


def test_a_toll_free_number_does_not_widen_the_zones_when_a_zone_is_known() -> None:
    assert candidate_zones("call", "+18005550100", None, "America/Chicago") == (
        "America/Chicago",)
    assert len(candidate_zones("call", "+18005550100", None, None)) > 1  # nothing else known
    assert candidate_zones("call", "+14155550100", None, "America/New_York") == (
        "America/New_York", "America/Los_Angeles")


def _event(kind: str, **kw: object) -> DebtorEvent:
    return DebtorEvent("e", "d", kind, datetime(2026, 3, 1, tzinfo=UTC), **kw)  # type: ignore[arg-type]


def test_opt_in_and_opt_out_undo_each_other() -> None:
    target = HASHER.destination("sms", "+12125550100")
    assert event_fields(_event("opt_in", channel="sms"), HASHER) == [
        ("o:sms", ""), ("f:opt_in:sms", "1")]
    assert event_fields(_event("opt_out", channel="sms", destination="+12125550100"),
                        HASHER) == [(f"o:sms:{target}", "1"), (f"f:opt_in:sms:{target}", "")]


def test_every_jurisdiction_pack_has_sources_readings_and_described_rules() -> None:
    for path in sorted(POLICIES.glob("*.yaml")):
        if path.stem == "default":
            continue
        pack = load_pack(path.stem)
        assert pack.sources and pack.readings, path.stem
        assert all(rule.description and rule.citation for rule in pack.rules), path.stem


def test_nyc_ships_every_rule_in_shadow_mode() -> None:
    assert all(rule.shadow for rule in load_pack("us-nyc").rules)
