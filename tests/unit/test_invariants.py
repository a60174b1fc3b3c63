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


# ---------------------------------------------------------------- events that bind (5)
def event(i: int, kind: str, at_ms: int, occurred: str = "2026-03-02T16:00:00Z",
          **fields: str) -> Record:
    body = {"event_id": f"e{i}", "debtor_id": "d1", "type": kind, "occurred_at": occurred,
            **fields}
    return Record(0, i, b"d1", orjson.dumps(body), (), at_ms)


def timed(value: bytes, at_ms: int, offset: int = 0) -> Record:
    return Record(0, offset, b"d1", value, (), at_ms)


def purposed(i: int, purpose: str, channel: str = "call", dest: str = "+12125550100") -> bytes:
    body = orjson.loads(req(i, dest))
    body.update(purpose=purpose, channel=channel)
    return orjson.dumps(body)


def bound(request: bytes, *events: Record, at_ms: int = 2000) -> dict[str, int]:
    report = check([timed(request, at_ms)], [allowed(request, "a")], [], [], POLICY, TOPIC,
                   list(events))
    assert report.bound == (1 if any(e.timestamp <= at_ms for e in events) else 0)
    return dict(report.counts)


def test_an_opt_out_of_the_channel_or_the_number_before_the_request_binds_it() -> None:
    assert bound(req(1), event(1, "opt_out", 1000, channel="call")) == {"ignored": 1}
    number = event(1, "opt_out", 1000, channel="call", destination="+12125550100")
    assert bound(req(1), number) == {"ignored": 1}
    # another number, another channel, or an event produced after the request: no violation
    assert bound(req(1, "+12125550199"), number) == {}
    assert bound(req(1), event(1, "opt_out", 1000, channel="sms")) == {}
    assert bound(req(1), event(1, "opt_out", 3000, channel="call")) == {}
    # the same millisecond counts as before (the suite waits for the ack in between)
    assert bound(req(1), event(1, "opt_out", 2000, channel="call")) == {"ignored": 1}


def test_each_blocking_status_of_the_policy_binds_and_its_lift_releases() -> None:
    for status in ("cease", "attorney_represented", "bankruptcy", "deceased"):
        assert bound(req(1), event(1, status, 1000)) == {"ignored": 1}, status
    assert bound(req(1), event(1, "dispute", 1000)) == {}  # not a status of the default pack
    lifted = [event(1, "cease", 1000), event(2, "cease_lifted", 1500,
                                             occurred="2026-03-02T16:30:00Z")]
    assert bound(req(1), *lifted) == {}
    # a lift produced later but dated before the cease does not lift it (last writer wins by
    # event time, as the gate applies it)
    stale_lift = [event(1, "cease", 1000), event(2, "cease_lifted", 1500,
                                                 occurred="2026-03-02T15:00:00Z")]
    assert bound(req(1), *stale_lift) == {"ignored": 1}
    # an opt-in after an opt-out lifts it
    again = [event(1, "opt_out", 1000, channel="call"),
             event(2, "opt_in", 1500, occurred="2026-03-02T16:30:00Z", channel="call")]
    assert bound(req(1), *again) == {}


def test_the_policys_except_purposes_are_honoured_not_hard_coded() -> None:
    # default: opt-outs except opt_out_confirmation, statuses except cease_notice
    opt_out = event(1, "opt_out", 1000, channel="call")
    assert bound(purposed(1, "opt_out_confirmation"), opt_out) == {}
    assert bound(purposed(1, "cease_notice"), opt_out) == {"ignored": 1}
    cease = event(1, "cease", 1000)
    assert bound(purposed(1, "cease_notice"), cease) == {}
    assert bound(purposed(1, "opt_out_confirmation"), cease) == {"ignored": 1}


def test_a_status_for_one_debt_binds_requests_about_that_debt_only() -> None:
    body = orjson.loads(req(1))
    body["debt_id"] = "debt-a"
    about_a = orjson.dumps(body)
    body["debt_id"] = "debt-b"
    about_b = orjson.dumps(body)
    attorney = event(1, "attorney_represented", 1000, debt_id="debt-a")
    assert bound(about_a, attorney) == {"ignored": 1}
    assert bound(about_b, attorney) == {}


def test_invalid_events_and_other_debtors_events_bind_nothing() -> None:
    junk = Record(0, 0, b"d1", b"{not json", (), 1000)
    other = Record(0, 1, b"d2", orjson.dumps({"event_id": "e", "debtor_id": "d2",
                                              "type": "cease",
                                              "occurred_at": "2026-03-02T16:00:00Z"}), (), 1000)
    report = check([timed(req(1), 2000)], [allowed(req(1), "a")], [], [], POLICY, TOPIC,
                   [junk, other])
    assert report.ok and report.bound == 0 and report.events == 2


def test_a_replayed_duplicate_is_judged_at_its_first_copy() -> None:
    # r1 was produced at 500, decided and allowed; an opt-out at 1000; r1 produced again at
    # 2000 gets its recorded decision (allowed) again: that is no violation
    ins = [timed(req(1), 500, 0), timed(req(1), 2000, 1)]
    report = check(ins, [allowed(req(1), "a"), allowed(req(1), "a")], [], [], POLICY, TOPIC,
                   [event(1, "opt_out", 1000, channel="call")])
    assert report.ok, report.summary()


def test_a_lift_produced_after_the_request_but_before_the_decision_may_be_honoured() -> None:
    # request produced at 2000, decided at NOON_NY (2026-03-02T17:00:00Z); the cease came at
    # 1000 and its lift at 3000 (broker time, long before the decision): the gate may have
    # seen the lift when it decided, so allowing is no violation
    decided_ms = 1_772_470_800_000  # NOON_NY in epoch ms
    lift = event(2, "cease_lifted", 3000, occurred="2026-03-02T16:30:00Z")
    assert bound(req(1), event(1, "cease", 1000), lift) == {}
    # the same lift produced after the decision: the cease held throughout
    late = event(2, "cease_lifted", decided_ms + 1, occurred="2026-03-02T16:30:00Z")
    assert bound(req(1), event(1, "cease", 1000), late) == {"ignored": 1}
    # a lift and a new cease, both between request and decision: one state allowed it
    again = event(3, "cease", 4000, occurred="2026-03-02T16:45:00Z")
    assert bound(req(1), event(1, "cease", 1000), lift, again) == {}


def test_parked_and_cancelled_requests_are_not_lost_and_a_cancelled_one_is_never_sent() -> None:
    def announced(value: bytes) -> Record:
        return Record(0, 0, b"d1", orjson.dumps({"request": orjson.loads(value),
                                                 "decision": {}, "deferred_until": NOON_NY}))

    def cancel(i: int) -> bytes:
        return orjson.dumps({"cancel": f"r{i}", "debtor_id": "d1"})

    withdrawn = Record(0, 0, b"d1", orjson.dumps({"cancel": "r3", "debtor_id": "d1",
                                                  "found": "cancelled", "at": NOON_NY}))
    values = [req(1), req(2), req(3), cancel(3)]
    report = check(inputs(*values), [allowed(values[0], "a1")], [], [], POLICY, TOPIC,
                   deferred=[announced(values[1]), announced(values[2]), withdrawn])
    assert report.ok, report.summary()
    assert (report.parked, report.duplicates) == (2, 0)  # r2 parked, r3 withdrawn
    report = check(inputs(*values), [allowed(values[0], "a1"), allowed(values[2], "a3")], [],
                   [], POLICY, TOPIC, deferred=[announced(values[1]), announced(values[2]),
                                                withdrawn])
    assert report.counts["cancelled"] == 1, report.summary()
    report = check(inputs(*values), [allowed(values[0], "a1")], [], [], POLICY, TOPIC)
    assert report.counts["lost"] == 3  # without contact.deferred: r2, r3, and the count
