"""Quiet hours, time zones, DST and calendar periods of the default pack."""

from __future__ import annotations

from datetime import date

import pytest
from builders import at, plan, request

from gatekeeper.localtime import candidate_zones, next_period_start
from gatekeeper.timeutil import format_utc

QUIET = "default/quiet-hours"


@pytest.mark.parametrize(("when", "blocked"), [
    ("2026-03-02T12:59:59Z", True),   # 07:59:59 New York (EST)
    ("2026-03-02T13:00:00Z", False),  # 08:00:00
    ("2026-03-03T01:59:59Z", False),  # 20:59:59
    ("2026-03-03T02:00:00Z", True),   # 21:00:00
])
def test_window_edges_in_new_york(when: str, blocked: bool) -> None:
    p = plan(request(destination="+12125550100"), when)
    assert (QUIET in [r.rule for r in p.blocking]) is blocked


def test_blocked_at_night_retries_at_next_local_morning() -> None:
    p = plan(request(), "2026-03-03T02:30:00Z")  # 21:30 New York
    (reason,) = p.blocking
    assert reason.rule == QUIET
    assert reason.retry_at == "2026-03-03T13:00:00Z"  # 08:00 EST next day
    assert reason.citation == "gatekeeper baseline R3"


def test_every_candidate_zone_must_be_open() -> None:
    # Declared New York, but the number is in San Francisco: 08:30 in NY is 05:30 there.
    p = plan(request(destination="+14155550100"), "2026-03-02T13:30:00Z")
    assert p.zones == ("America/New_York", "America/Los_Angeles")
    (reason,) = p.blocking
    assert "America/Los_Angeles" in reason.message
    assert reason.retry_at == "2026-03-02T16:00:00Z"  # 08:00 PST


def test_the_stored_profile_zone_is_a_candidate_too() -> None:
    zones = candidate_zones("email", "a@b.example", "Europe/Paris", "America/Chicago")
    assert zones == ("Europe/Paris", "America/Chicago")
    assert candidate_zones("sms", "+33612345678", None, None) == ("Europe/Paris",)


def test_spring_forward_morning_opens_at_local_eight() -> None:
    # 2026-03-08: New York moves from EST (-5) to EDT (-4) at 02:00.
    before = plan(request(), "2026-03-08T11:59:00Z")  # 07:59 EDT
    assert before.blocking[0].retry_at == "2026-03-08T12:00:00Z"
    assert not plan(request(), "2026-03-08T12:00:00Z").blocking  # 08:00 EDT
    day_before = plan(request(), "2026-03-07T12:30:00Z")  # 07:30 EST
    assert day_before.blocking[0].retry_at == "2026-03-07T13:00:00Z"


def test_fall_back_evening_closes_at_local_nine() -> None:
    # 2026-11-01: New York moves back to EST; 21:00 EST is 02:00Z on Nov 2.
    assert not plan(request(), "2026-11-02T01:59:00Z").blocking
    assert plan(request(), "2026-11-02T02:00:00Z").blocking


def test_calendar_day_is_the_debtor_local_date() -> None:
    # 20:00 UTC on March 2 is already 09:00 on March 3 in Auckland.
    p = plan(request(destination="+6491234567", debtor={"timezone": "Pacific/Auckland"}),
             "2026-03-02T20:00:00Z")
    assert p.local_day == date(2026, 3, 3)
    assert not p.blocking
    # and 02:00 UTC on March 3 is still March 2 in Los Angeles.
    p = plan(request(destination="+14155550100", debtor={"timezone": "America/Los_Angeles"}),
             "2026-03-03T02:00:00Z")
    assert p.local_day == date(2026, 3, 2)


def test_daily_counter_field_changes_at_local_midnight() -> None:
    req = request(destination="+81312345678", debtor={"timezone": "Asia/Tokyo"})
    late = plan(req, "2026-03-02T14:59:59Z")  # 23:59:59 Tokyo
    early = plan(req, "2026-03-02T15:00:00Z")  # 00:00:00 Tokyo, next day
    assert late.checks[0].increment != early.checks[0].increment
    assert late.checks[0].increment.rsplit("|", 1)[0] == early.checks[0].increment.rsplit("|", 1)[0]


def test_month_periods_follow_the_local_calendar_across_dst() -> None:
    req = request(channel="letter", destination="1 Main St",
                  debtor={"timezone": "America/Los_Angeles"})
    march = plan(req, "2026-04-01T06:59:00Z")  # 23:59 PDT March 31
    april = plan(req, "2026-04-01T07:00:00Z")  # 00:00 PDT April 1
    assert march.checks[0].increment != april.checks[0].increment
    end = next_period_start(march.local_day, "month", "America/Los_Angeles")
    assert format_utc(end) == "2026-04-01T07:00:00Z"
    winter = next_period_start(date(2026, 2, 10), "month", "America/Los_Angeles")
    assert format_utc(winter) == "2026-03-01T08:00:00Z"


def test_unknown_zone_blocks_timed_channels_but_not_letters() -> None:
    email = request(channel="email", destination="a@b.example", debtor={"region": "US"},
                    content={"amount_due": 1, "due_date": "2026-04-01",
                             "payment_options": ["card"], "opt_out_instructions": "link"})
    p = plan(email, "2026-03-02T15:00:00Z")
    assert [r.rule for r in p.blocking] == [QUIET]
    assert p.blocking[0].retry_at is None
    letter = request(channel="letter", destination="1 Main St", debtor={"region": "US"},
                     content=email.content)
    assert not plan(letter, "2026-03-02T03:00:00Z").blocking
    assert at("2026-03-02T03:00:00Z").tzinfo is not None
