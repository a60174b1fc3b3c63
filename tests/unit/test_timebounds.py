"""Time sanity: requests, events and outcomes whose own time is too far ahead of the gate's
clock (beyond the clock-skew tolerance) or absurdly far behind it are invalid input; an
event or outcome a little ahead is applied at the gate's clock, so it cannot outrank later
real ones under last-writer-wins."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import orjson
import pytest
from builders import at

from gatekeeper.errors import InvalidInput
from gatekeeper.model import ContactOutcome, ContactRequest, DebtorEvent
from gatekeeper.settings import Settings
from gatekeeper.stream.process import process_events, process_outcomes, process_requests
from gatekeeper.stream.routing import Incoming
from gatekeeper.timebounds import TimeBounds, admit_event, admit_outcome, check_request
from gatekeeper.validate import parse_event, parse_outcome, parse_request

NOW = at("2026-03-02T15:00:00Z")
BOUNDS = TimeBounds()  # 300 s of clock skew, requests at most 30 days old


def request(requested_at: str) -> ContactRequest:
    return parse_request(orjson.dumps({
        "request_id": "r-1", "debtor_id": "d-1", "channel": "call",
        "destination": "+12125550100", "requested_at": requested_at}))


def event(occurred_at: str, kind: str = "cease") -> DebtorEvent:
    return parse_event(orjson.dumps({"event_id": "e-1", "debtor_id": "d-1", "type": kind,
                                     "occurred_at": occurred_at}))


def outcome(occurred_at: str) -> ContactOutcome:
    return parse_outcome(orjson.dumps({"request_id": "r-1", "debtor_id": "d-1",
                                       "outcome": "conversation", "occurred_at": occurred_at}))


def rejection(check: Any, *args: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check(*args)
    return caught.value


@pytest.mark.parametrize("requested_at", [
    "2026-03-02T15:05:00Z",       # exactly the tolerance ahead
    "2026-03-03T05:05:00+14:00",  # the same instant, written in Kiritimati
    "2026-03-02T04:05:00-11:00",  # and in Niue
    "2026-01-31T15:00:00Z",       # exactly 30 days old
])
def test_a_request_at_the_edge_of_the_bounds_passes(requested_at: str) -> None:
    check_request(request(requested_at), NOW, BOUNDS)


def test_a_request_one_second_beyond_the_clock_skew_is_invalid() -> None:
    error = rejection(check_request, request("2026-03-03T05:05:01+14:00"), NOW, BOUNDS)
    assert error.field == "requested_at"
    assert error.expected == "at most 2026-03-02T15:05:00Z"
    assert error.found == "2026-03-02T15:05:01Z"
    assert error.message == (
        "requested_at: 2026-03-02T15:05:01Z is in the future: 301 s after the gate's clock "
        "(2026-03-02T15:00:00Z), more than the clock skew tolerance of 300 s")


def test_a_request_one_second_older_than_the_maximum_age_is_invalid() -> None:
    error = rejection(check_request, request("2026-01-31T14:59:59Z"), NOW, BOUNDS)
    assert (error.field, error.expected, error.found) == (
        "requested_at", "at least 2026-01-31T15:00:00Z", "2026-01-31T14:59:59Z")
    assert "older than the maximum request age of 30 days" in error.message


@pytest.mark.parametrize("requested_at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                                          "0001-01-01T00:00:00+14:00",
                                          "9999-12-31T23:59:59-11:00"])
def test_requests_from_year_one_or_year_9999_are_invalid(requested_at: str) -> None:
    assert rejection(check_request, request(requested_at), NOW, BOUNDS).field == "requested_at"


def test_no_request_is_older_than_1970_whatever_the_maximum_age() -> None:
    lenient = TimeBounds(max_request_age=timedelta(days=100_000))
    check_request(request("1970-01-01T00:00:00Z"), NOW, lenient)
    error = rejection(check_request, request("1969-12-31T23:59:59Z"), NOW, lenient)
    assert error.message == "requested_at: 1969-12-31T23:59:59Z is before 1970"
    assert error.expected == "at least 1970-01-01T00:00:00Z"


def test_the_tolerance_is_a_setting() -> None:
    strict = TimeBounds(clock_skew=timedelta(0))
    check_request(request("2026-03-02T15:00:00Z"), NOW, strict)
    assert rejection(check_request, request("2026-03-02T15:00:01Z"), NOW, strict).message \
        .endswith("more than the clock skew tolerance of 0 s")


@pytest.mark.parametrize("admit", [admit_event, admit_outcome])
def test_events_and_outcomes_at_the_edges(admit: Any) -> None:
    make = event if admit is admit_event else outcome
    assert admit(make("2026-03-02T15:05:00Z"), NOW, BOUNDS).occurred_at == NOW
    error = rejection(admit, make("2026-03-02T15:05:01Z"), NOW, BOUNDS)
    assert (error.field, error.expected, error.found) == (
        "occurred_at", "at most 2026-03-02T15:05:00Z", "2026-03-02T15:05:01Z")
    # old history binds: an opt-out from years ago is still one
    assert admit(make("1970-01-01T00:00:00Z"), NOW, BOUNDS).occurred_at == at(
        "1970-01-01T00:00:00Z")
    error = rejection(admit, make("1969-12-31T23:59:59Z"), NOW, BOUNDS)
    assert error.message == "occurred_at: 1969-12-31T23:59:59Z is before 1970"


def test_a_past_event_keeps_its_own_time() -> None:
    old = event("2011-05-01T09:00:00+02:00")
    assert admit_event(old, NOW, BOUNDS) == old


def test_a_year_9999_event_is_rejected_with_how_far_ahead_it_is() -> None:
    error = rejection(admit_event, event("9999-12-31T23:59:59Z", "cease_lifted"), NOW, BOUNDS)
    assert error.message.startswith("occurred_at: 9999-12-31T23:59:59Z is in the future: "
                                    "2912382 days after the gate's clock")


def test_settings_read_the_bounds_from_the_environment() -> None:
    settings = Settings.from_env({"GATEKEEPER_CLOCK_SKEW_SECONDS": "60",
                                  "GATEKEEPER_MAX_REQUEST_AGE_DAYS": "7"})
    assert TimeBounds.from_settings(settings) == TimeBounds(timedelta(seconds=60),
                                                            timedelta(days=7))
    assert TimeBounds.from_settings(Settings.from_env({})) == BOUNDS


@pytest.mark.parametrize(("variable", "message"), [
    ("GATEKEEPER_CLOCK_SKEW_SECONDS", "expected a number of seconds >= 0, found -5"),
    ("GATEKEEPER_MAX_REQUEST_AGE_DAYS", "expected a number of days >= 0, found -5"),
])
def test_a_negative_bound_stops_the_worker_naming_the_variable(variable: str,
                                                               message: str) -> None:
    with pytest.raises(SystemExit) as caught:
        TimeBounds.from_settings(Settings.from_env({variable: "-5"}))
    assert str(caught.value) == f"{variable}: {message}"


class RecordingGate:
    """Stands in for the Gate: records what the stream layer hands it."""

    def __init__(self) -> None:
        self.events: list[DebtorEvent] = []
        self.outcomes: list[ContactOutcome] = []
        self.requests: list[ContactRequest] = []

    async def apply_events(self, events: Sequence[DebtorEvent]) -> None:
        self.events += events

    async def apply_outcomes(self, outcomes: Sequence[ContactOutcome], now: Any) -> list[Any]:
        self.outcomes += outcomes
        return []

    async def decide_recorded(self, requests: Sequence[ContactRequest], now: Any) -> list[Any]:
        self.requests += requests
        return [({"decision": "blocked", "decision_id": "x", "policy": "p",
                  "evaluated_at": "t", "debtor_id": r.debtor_id}, None) for r in requests]


def incoming(*bodies: dict[str, Any]) -> list[Incoming]:
    return [Incoming(b"d-1", orjson.dumps(b), "topic", 0, i) for i, b in enumerate(bodies)]


def test_the_worker_dead_letters_future_requests_and_decides_the_rest() -> None:
    base = {"request_id": "r", "debtor_id": "d-1", "channel": "call",
            "destination": "+12125550100"}
    batch = incoming({**base, "request_id": "ok", "requested_at": "2026-03-02T15:05:00Z"},
                     {**base, "request_id": "ahead", "requested_at": "2026-03-02T15:05:01Z"},
                     {**base, "request_id": "old", "requested_at": "0001-01-01T00:00:00Z"})
    gate = RecordingGate()
    outputs = asyncio.run(process_requests(gate, batch, NOW, None))  # type: ignore[arg-type]
    assert [o.kind for o in outputs] == ["review", "invalid", "invalid", "decisions"]
    assert [r.request_id for r in gate.requests] == ["ok"]
    error = orjson.loads(outputs[1].value)["error"]
    assert (error["field"], error["expected"]) == ("requested_at", "at most 2026-03-02T15:05:00Z")
    assert orjson.loads(outputs[2].value)["error"]["found"] == "0001-01-01T00:00:00Z"


def test_the_worker_applies_events_at_no_later_than_its_clock() -> None:
    base = {"debtor_id": "d-1", "type": "cease_lifted"}
    batch = incoming({**base, "event_id": "soon", "occurred_at": "2026-03-02T15:04:00Z"},
                     {**base, "event_id": "never", "occurred_at": "9999-12-31T23:59:59Z"},
                     {**base, "event_id": "past", "occurred_at": "2026-03-02T14:00:00Z"})
    gate = RecordingGate()
    rejected = asyncio.run(process_events(gate, batch, NOW))  # type: ignore[arg-type]
    assert [(e.event_id, e.occurred_at) for e in gate.events] == [
        ("soon", NOW), ("past", at("2026-03-02T14:00:00Z"))]
    (dead,) = rejected
    assert orjson.loads(dead.value)["source"]["offset"] == 1


def test_the_worker_applies_outcomes_at_no_later_than_its_clock() -> None:
    base = {"request_id": "r-1", "debtor_id": "d-1", "outcome": "conversation"}
    batch = incoming({**base, "occurred_at": "2026-03-02T15:01:00Z"},
                     {**base, "occurred_at": "1960-01-01T00:00:00Z"})
    gate = RecordingGate()
    rejected = asyncio.run(process_outcomes(gate, batch, NOW))  # type: ignore[arg-type]
    assert [o.occurred_at for o in gate.outcomes] == [NOW]
    assert orjson.loads(rejected[0].value)["error"]["field"] == "occurred_at"
