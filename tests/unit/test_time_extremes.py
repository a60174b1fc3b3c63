"""Timestamp arithmetic never raises: years 1 and 9999, UTC+14 (Kiritimati), UTC-11 (Niue),
a day skipped at the date line. Each of these raised OverflowError or ValueError before
the arithmetic saturated; a time past the end of the calendar is "never" (retry_at null)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from builders import HASHER, at, plan, request, state

from gatekeeper.localtime import Hours, local_date, next_period_start, start_of_day
from gatekeeper.model import DebtorState
from gatekeeper.plan import make_plan
from gatekeeper.policy import load_policy
from gatekeeper.policy.model import Span
from gatekeeper.timeutil import UTC_MAX, UTC_MIN, format_utc, from_epoch, parse_rfc3339
from gatekeeper.verdict import StoreResult, decide

ZONES = ["Pacific/Kiritimati", "Pacific/Niue", "America/New_York", "UTC"]
END = "9999-12-31T23:59:59Z"


def full(p):  # type: ignore[no-untyped-def]
    """A store answer with every counter at its limit, and a contact an hour ago."""
    counts = tuple((c.limit,) + (0,) * (len(c.fields) - 1) for c in p.checks)
    return StoreResult("blocked", counts, p.now.timestamp() - 3600)


def test_year_one_renders_with_four_digits() -> None:
    assert format_utc(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"
    assert format_utc(datetime(999, 5, 6, 7, 8, 9, 10000, tzinfo=UTC)) == \
        "0999-05-06T07:08:09.010Z"


@pytest.mark.parametrize(("text", "expected"), [
    ("0001-01-01T00:00:00+14:00", UTC_MIN),  # year 0 in UTC
    ("9999-12-31T23:00:00-11:00", UTC_MAX),  # year 10000 in UTC
    ("2026-03-03T05:05:00+14:00", datetime(2026, 3, 2, 15, 5, tzinfo=UTC)),
])
def test_timestamps_are_read_in_utc_saturated_at_the_ends(text: str, expected: datetime) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == expected and parsed.tzinfo is UTC
    format_utc(parsed)  # raised OverflowError for the first two


@pytest.mark.parametrize(("instant", "zone", "expected"), [
    (END, "Pacific/Kiritimati", date.max),           # 10000-01-01 there
    ("0001-01-01T05:00:00Z", "Pacific/Niue", date.min),  # year 0 there
    ("2011-12-30T10:00:00Z", "Pacific/Apia", date(2011, 12, 31)),  # Samoa skipped the 30th
])
def test_local_dates_saturate(instant: str, zone: str, expected: date) -> None:
    assert local_date(at(instant), zone) == expected


@pytest.mark.parametrize("period", ["day", "week", "month"])
@pytest.mark.parametrize("zone", ZONES)
def test_the_period_after_the_last_day_is_never(period: str, zone: str) -> None:
    assert next_period_start(date.max, period, zone) == UTC_MAX


def test_a_skipped_day_starts_where_the_next_one_does() -> None:
    assert start_of_day(date(2011, 12, 30), "Pacific/Apia") == \
        start_of_day(date(2011, 12, 31), "Pacific/Apia")
    assert next_period_start(date(2011, 12, 29), "day", "Pacific/Apia") == \
        at("2011-12-30T10:00:00Z")


def test_opening_hours_past_the_end_of_the_calendar_are_never() -> None:
    hours = Hours("Pacific/Niue", {"mon": [Span(time(8), 21 * 60)]})
    assert hours.earliest(at("9999-12-31T12:00:00Z")) is None  # a Friday, 01:00 in Niue
    assert not hours.allows(at(END))


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("when", [END, "9999-12-31T12:00:00Z", "9999-12-28T15:00:00Z",
                                  "0001-01-01T00:00:00Z", "0001-01-01T13:00:00Z"])
@pytest.mark.parametrize(("channel", "destination"), [("call", "+12125550100"),
                                                      ("letter", "1 Main St")])
def test_every_pack_decides_at_the_ends_of_time(zone: str, when: str, channel: str,
                                                destination: str) -> None:
    policy = load_policy(["default", "us-reg-f", "ca-on", "cn-cba-2026"])
    debtor = {"timezone": zone, "region": "CA-ON", "days_past_due": 120, "hardship": True}
    req = request(channel=channel, destination=destination, debtor=debtor, debt_id="D1")
    p = make_plan(req, policy, DebtorState(), at(when), HASHER)
    decision = decide(p, full(p))
    assert decision["decision"] == "blocked"
    for text in [decision["retry_at"]] + [r["retry_at"] for r in decision["reasons"]]:
        if text is not None:
            assert at(text) >= at(when)


def test_limits_whose_window_ends_after_year_9999_never_lift() -> None:
    # letters: 2 a month; December 9999 has no next month.
    p = plan(request(channel="letter", destination="1 Main St"), "9999-12-15T15:00:00Z")
    decision = decide(p, full(p))
    (reason,) = [r for r in decision["reasons"] if r["rule"] == "default/letters-per-month"]
    assert reason["retry_at"] is None and decision["retry_at"] is None


def test_spacing_past_year_9999_never_lifts() -> None:
    hardship = {"timezone": "America/New_York", "hardship": True}
    p = plan(request(channel="email", destination="a@b.example", debtor=hardship),
             "9999-12-30T15:00:00Z")
    decision = decide(p, StoreResult("allowed", ((0,),) * len(p.checks),
                                     at("9999-12-29T15:00:00Z").timestamp()))
    rules = {r["rule"]: r for r in decision["reasons"]}
    assert rules["default/hardship-spacing"]["retry_at"] is None
    assert decision["retry_at"] is None


def test_a_cool_down_past_year_9999_never_ends() -> None:
    talked = state({"type": "conversation", "occurred_at": "9999-12-28T15:00:00Z"})
    p = plan(request(debt_id="D1"), "9999-12-28T16:00:00Z", packs="us-reg-f",
             debtor_state=talked)
    (reason,) = [r for r in p.blocking if r.kind == "cooldown"]
    assert reason.retry_at is None


def test_an_inconvenient_evening_on_the_last_day_never_ends() -> None:
    evenings = state({"type": "inconvenient_times",
                      "data": {"windows": [{"start": "22:00", "end": "07:00"}]}})
    p = plan(request(debtor={"timezone": "UTC"}), "9999-12-31T22:30:00Z", packs="us-reg-f",
             debtor_state=evenings)
    (reason,) = [r for r in p.blocking if r.kind == "inconvenient_times"]
    assert reason.retry_at is None


def test_a_request_expiring_at_either_end_of_time() -> None:
    never = request(not_after=END)
    assert not [r for r in plan(never, "2026-03-02T17:00:00Z").blocking if r.kind == "expiry"]
    long_ago = request(not_after="0001-01-01T00:00:00+14:00")
    (reason,) = [r for r in plan(long_ago, "2026-03-02T17:00:00Z").blocking
                 if r.kind == "expiry"]
    assert reason.message == "expired at 0001-01-01T00:00:00Z"


@pytest.mark.parametrize("until", [END, "9999-12-31T23:59:59-11:00"])
def test_consent_until_year_9999_holds_and_renders(until: str) -> None:
    consent = state({"type": "consent", "channel": "call", "data": {"until": until}})
    ((_, seconds),) = consent.consents
    assert format_utc(from_epoch(seconds)).startswith("9999-12-31T23:59:59")
    # Reg F's call limit is waived under consent, also in the last week of the calendar
    p = plan(request(debt_id="D1"), "9999-12-28T15:00:00Z", packs="us-reg-f",
             debtor_state=consent)
    assert not [c for c in p.checks if c.rule.name == "us-reg-f/calls-7-in-7"]


def test_epoch_seconds_beyond_the_calendar_saturate() -> None:
    assert from_epoch(1e15) == UTC_MAX
    assert from_epoch(-1e15) == UTC_MIN
