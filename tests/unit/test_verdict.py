"""Plan + store answer -> Decision: reasons, observed counts and retry_at."""

from __future__ import annotations

from builders import CONTENT, plan, request

from gatekeeper.policy.load import parse_pack
from gatekeeper.policy.model import Policy
from gatekeeper.verdict import StoreResult, decide

NOON_NY = "2026-03-02T17:00:00Z"


def test_allowed_when_every_counter_is_below_its_limit() -> None:
    p = plan(request(), NOON_NY)
    decision = decide(p, StoreResult("allowed", ((0,),)))
    assert decision["decision"] == "allowed" and decision["reasons"] == []
    assert decision["retry_at"] is None and decision["shadow"] == []
    assert decision["policy"].startswith("default@")
    assert decision["evaluated_at"] == NOON_NY


def test_daily_call_limit_retries_at_next_local_morning() -> None:
    p = plan(request(), NOON_NY)
    decision = decide(p, StoreResult("blocked", ((1,),)))
    (reason,) = decision["reasons"]
    assert reason["rule"] == "default/calls-per-day-per-number"
    assert (reason["limit"], reason["observed"]) == (1, 1)
    assert reason["retry_at"] == "2026-03-03T05:00:00Z"  # local midnight
    # ... but at midnight the quiet hours still hold: the decision waits for 08:00.
    assert decision["retry_at"] == "2026-03-03T13:00:00Z"


def test_letters_retry_on_the_first_of_next_month() -> None:
    p = plan(request(channel="letter", destination="1 Main St", content=CONTENT), NOON_NY)
    decision = decide(p, StoreResult("blocked", ((2,),)))
    assert decision["reasons"][0]["message"] == "letters this month: 2 (limit 2)"
    assert decision["retry_at"] == "2026-04-01T04:00:00Z"  # midnight EDT


def test_a_rule_time_cannot_lift_makes_retry_null() -> None:
    p = plan(request(channel="sms", content={}), "2026-03-03T03:00:00Z")  # night and no content
    decision = decide(p, StoreResult("checked", ()))
    assert {r["rule"] for r in decision["reasons"]} == {"default/quiet-hours",
                                                        "default/written-notice-content"}
    assert decision["retry_at"] is None


def test_hardship_spacing_counts_from_the_last_contact() -> None:
    p = plan(request(debtor={"timezone": "America/New_York", "hardship": True}), NOON_NY)
    last = p.now.timestamp() - 3 * 86400
    decision = decide(p, StoreResult("blocked", ((0,),), last_contact=last))
    (reason,) = decision["reasons"]
    assert reason["rule"] == "default/hardship-spacing"
    assert decision["retry_at"] == "2026-03-13T17:00:00Z"
    old = decide(p, StoreResult("allowed", ((0,),), last_contact=last - 11 * 86400))
    assert old["decision"] == "allowed"


ROLLING = """
pack: rolling
title: test
applies_to: ["*"]
rules:
  - id: seven-in-seven
    kind: limit
    citation: test
    channels: [call]
    max: 7
    window: {rolling_days: 7}
    per: [debt]
  - id: watch
    kind: limit
    citation: test
    channels: [call]
    max: 1
    window: {calendar: day}
    shadow: true
"""


def _rolling_plan(when: str):  # type: ignore[no-untyped-def]
    from builders import HASHER

    from gatekeeper.model import DebtorState
    from gatekeeper.plan import make_plan
    from gatekeeper.timeutil import parse_rfc3339

    pack = parse_pack(ROLLING, "rolling.yaml")
    policy = Policy((pack,), "rolling@test")
    return make_plan(request(debt_id="D1"), policy, DebtorState(), parse_rfc3339(when), HASHER)


def test_rolling_window_lists_seven_local_days_oldest_first() -> None:
    p = _rolling_plan(NOON_NY)
    check = p.checks[0]
    days = [int(f.rsplit("|", 1)[1]) for f in check.fields]
    assert days == list(range(days[-1] - 6, days[-1] + 1))
    assert check.increment == check.fields[-1]


def test_rolling_retry_is_the_day_the_oldest_calls_leave_the_window() -> None:
    p = _rolling_plan(NOON_NY)
    # 3 calls six days ago, 2 five days ago, 2 today: 7 in 7 days.
    decision = decide(p, StoreResult("blocked", ((3, 2, 0, 0, 0, 0, 2), (0,))))
    (reason,) = decision["reasons"]
    assert (reason["observed"], reason["limit"]) == (7, 7)
    # Tomorrow the 3 oldest leave: 4 < 7. Local midnight of March 3 in New York.
    assert reason["retry_at"] == "2026-03-03T05:00:00Z"


def test_shadow_rules_report_but_never_block() -> None:
    p = _rolling_plan(NOON_NY)
    decision = decide(p, StoreResult("allowed", ((0,) * 7, (5,))))
    assert decision["decision"] == "allowed"
    assert [s["rule"] for s in decision["shadow"]] == ["rolling/watch"]
