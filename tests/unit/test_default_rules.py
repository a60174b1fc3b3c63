"""Every rule of the default pack, on both sides of its line."""

from __future__ import annotations

import pytest
from builders import CONTENT, plan, request, rules, state

NOON_NY = "2026-03-02T17:00:00Z"


@pytest.mark.parametrize(("days", "blocked"), [(89, True), (90, False), (None, True)])
def test_visits_need_ninety_days_past_due(days: int | None, blocked: bool) -> None:
    debtor = {"timezone": "America/New_York", "region": "US"}
    if days is not None:
        debtor["days_past_due"] = days
    req = request(channel="visit", destination="addr-77", debtor=debtor)
    assert ("default/visits-90-days-past-due" in rules(plan(req, NOON_NY))) is blocked


def test_legal_letters_need_ninety_days_but_plain_letters_do_not() -> None:
    debtor = {"timezone": "America/New_York", "days_past_due": 30}
    legal = request(channel="letter", destination="1 Main St", purpose="legal_notice",
                    debtor=debtor, content=CONTENT)
    plain = request(channel="letter", destination="1 Main St", debtor=debtor, content=CONTENT)
    assert rules(plan(legal, NOON_NY)) == ["default/legal-letters-90-days-past-due"]
    assert rules(plan(plain, NOON_NY)) == []


@pytest.mark.parametrize("missing", ["amount_due", "due_date", "payment_options",
                                     "opt_out_instructions"])
def test_written_notices_must_be_complete(missing: str) -> None:
    content = {k: v for k, v in CONTENT.items() if k != missing}
    p = plan(request(channel="sms", content=content), NOON_NY)
    assert rules(p) == ["default/written-notice-content"]
    assert missing in p.blocking[0].message
    assert p.blocking[0].retry_at is None


def test_an_empty_payment_options_list_is_missing() -> None:
    p = plan(request(channel="email", destination="a@b.example",
                     content={**CONTENT, "payment_options": []}), NOON_NY)
    assert "payment_options" in p.blocking[0].message


def test_channel_and_destination_opt_outs() -> None:
    whole = state({"type": "opt_out", "channel": "sms"})
    assert rules(plan(request(channel="sms", content=CONTENT), NOON_NY,
                      debtor_state=whole)) == ["default/opt-outs"]
    assert rules(plan(request(), NOON_NY, debtor_state=whole)) == []  # calls still fine
    one = state({"type": "opt_out", "channel": "call", "destination": "+12125550100"})
    assert rules(plan(request(), NOON_NY, debtor_state=one)) == ["default/opt-outs"]
    other = request(destination="+12125550199")
    assert rules(plan(other, NOON_NY, debtor_state=one)) == []


def test_opt_in_after_opt_out_lifts_it() -> None:
    # (An older opt-in arriving late is ignored by the store: tests/integration/test_store.py.)
    lifted = state({"type": "opt_out", "channel": "sms"},
                   {"type": "opt_in", "channel": "sms", "occurred_at": "2026-03-01T10:00:00Z"})
    assert rules(plan(request(channel="sms", content=CONTENT), NOON_NY,
                      debtor_state=lifted)) == []


def test_opt_out_confirmation_is_still_allowed() -> None:
    opted = state({"type": "opt_out", "channel": "sms"})
    req = request(channel="sms", purpose="opt_out_confirmation", content=CONTENT)
    assert rules(plan(req, NOON_NY, debtor_state=opted)) == []


@pytest.mark.parametrize("status", ["cease", "attorney_represented", "bankruptcy", "deceased"])
def test_statuses_block_collection_but_not_a_cease_notice(status: str) -> None:
    s = state({"type": status})
    p = plan(request(), NOON_NY, debtor_state=s)
    assert rules(p) == ["default/cease-and-status"]
    assert p.blocking[0].retry_at is None
    notice = request(channel="letter", destination="1 Main St", purpose="cease_notice")
    assert rules(plan(notice, NOON_NY, debtor_state=s)) == []


def test_attorney_representation_can_be_per_debt() -> None:
    s = state({"type": "attorney_represented", "debt_id": "D1"})
    assert rules(plan(request(debt_id="D1"), NOON_NY, debtor_state=s)) == [
        "default/cease-and-status"]
    assert rules(plan(request(debt_id="D2"), NOON_NY, debtor_state=s)) == []
    released = state({"type": "attorney_represented", "debt_id": "D1"},
                     {"type": "attorney_released", "debt_id": "D1",
                      "occurred_at": "2026-03-01T12:00:00Z"})
    assert rules(plan(request(debt_id="D1"), NOON_NY, debtor_state=released)) == []


def test_expired_requests_are_blocked() -> None:
    assert rules(plan(request(not_after="2026-03-02T16:59:59Z"), NOON_NY)) == ["default/expired"]
    assert rules(plan(request(not_after="2026-03-02T17:00:00Z"), NOON_NY)) == []


def test_hardship_turns_on_spacing() -> None:
    assert plan(request(), NOON_NY).spacings == ()
    assert plan(request(), NOON_NY).spacing_seconds == 0
    p = plan(request(debtor={"timezone": "America/New_York", "hardship": True}), NOON_NY)
    assert [(rule.name, seconds) for rule, seconds in p.spacings] == [
        ("default/hardship-spacing", 14 * 86400)]
    assert p.spacing_seconds == 14 * 86400
    from_events = plan(request(), NOON_NY, debtor_state=state({"type": "hardship",
                                                                "data": {"on": True}}))
    assert from_events.spacing_seconds == 14 * 86400


def test_request_profile_overrides_stored_profile() -> None:
    stored = state({"type": "profile", "data": {"days_past_due": 10,
                                                "timezone": "Europe/London"}})
    req = request(channel="visit", destination="addr", debtor={"days_past_due": 95})
    p = plan(req, NOON_NY, debtor_state=stored)
    assert p.profile.days_past_due == 95
    assert p.primary_zone == "Europe/London"
    assert rules(p) == []


def test_counters_planned_for_calls_and_letters() -> None:
    calls = plan(request(), NOON_NY).checks
    assert [(c.rule.name, c.limit, c.period) for c in calls] == [
        ("default/calls-per-day-per-number", 1, "day")]
    letters = plan(request(channel="letter", destination="x", content=CONTENT), NOON_NY).checks
    assert [(c.rule.name, c.limit, c.period) for c in letters] == [
        ("default/letters-per-month", 2, "month")]


def test_phone_numbers_appear_only_hashed_in_counter_fields() -> None:
    check = plan(request(destination="+12125550100"), NOON_NY).checks[0]
    assert "2125550100" not in check.increment


@pytest.mark.parametrize(("channel", "destination", "purpose", "held", "counted"), [
    ("call", "+12125550100", "collection", True, True),
    ("sms", "+12125550100", "collection", True, True),
    ("visit", "1 Main St", "legal_notice", True, True),
    ("sms", "+12125550100", "opt_out_confirmation", False, True),
    ("call", "+12125550100", "reply_to_debtor", False, True),
    ("email", "d@example.com", "collection", False, False),
    ("letter", "1 Main St", "collection", False, False),
])
def test_three_hours_between_calls_texts_and_visits(channel: str, destination: str,
                                                    purpose: str, held: bool,
                                                    counted: bool) -> None:
    p = plan(request(channel=channel, destination=destination, purpose=purpose,
                     content=CONTENT), NOON_NY)
    assert [(g.rule.name, g.seconds) for g in p.gaps] == (
        [("default/three-hours-between-contacts", 3 * 3600)] if held else [])
    assert len(p.gap_writes) == (1 if counted else 0)
