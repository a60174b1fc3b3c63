"""The invariant checker finds each kind of violation it is for (and none in a clean run)."""

from __future__ import annotations

import orjson

from gatekeeper.invariants import Record, check
from gatekeeper.policy import load_policy

TOPIC = "contact.requests"
POLICY = load_policy("default")
NOON_NY = "2026-03-02T17:00:00Z"


def req(i: int, dest: str = "+12125550100") -> bytes:
    return orjson.dumps({"request_id": f"r{i}", "debtor_id": "d1", "channel": "call",
                         "destination": dest, "requested_at": NOON_NY,
                         "debtor": {"timezone": "America/New_York"}})


def allowed(value: bytes, decision: str, at: str = NOON_NY) -> Record:
    return Record(0, 0, b"d1", value, (("gk-decision-id", decision.encode()),
                                       ("gk-evaluated-at", at.encode())))


def review(value: bytes, decision: str) -> Record:
    return Record(0, 0, b"d1", orjson.dumps({"request": orjson.loads(value),
                                             "decision": {"decision_id": decision}}))


def invalid(offset: int) -> Record:
    return Record(0, 0, b"d1", orjson.dumps({"error": {}, "raw": "x", "source": {
        "topic": TOPIC, "partition": 0, "offset": offset}}))


def inputs(*values: bytes) -> list[Record]:
    return [Record(0, i, b"d1", v) for i, v in enumerate(values)]


def test_a_clean_run_with_a_replayed_duplicate_passes() -> None:
    ins = inputs(req(1), req(2), b"junk", req(1))
    report = check(ins, [allowed(req(1), "a"), allowed(req(1), "a")],
                   [review(req(2), "b")], [invalid(2)], POLICY, TOPIC)
    assert report.ok, report.summary()
    assert report.duplicates == 0


def test_a_lost_request_and_an_unrouted_malformed_message_are_found() -> None:
    report = check(inputs(req(1), req(2), b"junk"), [allowed(req(1), "a")], [], [],
                   POLICY, TOPIC)
    assert report.counts["lost"] == 3  # r2, junk, and the total


def test_a_request_on_two_topics_or_with_two_decisions_is_found() -> None:
    both = check(inputs(req(1)), [allowed(req(1), "a")], [review(req(1), "b")], [],
                 POLICY, TOPIC)
    assert both.counts["doubled"] == 2
    two = check(inputs(req(1)), [allowed(req(1), "a"), allowed(req(1), "c")], [], [],
                POLICY, TOPIC)
    assert two.counts["doubled"] == 1


def test_altered_bytes_and_forwards_of_unknown_requests_are_found() -> None:
    altered = req(1).replace(b"d1", b"d1", 1) + b" "
    report = check(inputs(req(1)), [allowed(altered, "a")], [], [], POLICY, TOPIC)
    assert report.counts["unchecked"] == 1
    stranger = check(inputs(req(1)), [allowed(req(1), "a"), allowed(req(9), "z")], [], [],
                     POLICY, TOPIC)
    assert stranger.counts["unchecked"] >= 1


def test_a_limit_exceeded_and_a_call_at_night_are_found() -> None:
    report = check(inputs(req(1), req(2)), [allowed(req(1), "a"), allowed(req(2), "b")], [],
                   [], POLICY, TOPIC)
    assert report.counts["limit"] >= 1  # two calls to one number in one local day
    night = check(inputs(req(3)), [allowed(req(3), "c", "2026-03-03T03:00:00Z")], [], [],
                  POLICY, TOPIC)
    assert night.counts["hours"] == 1
