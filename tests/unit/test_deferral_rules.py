"""Deferral: which blocks are deferred (per rule kind), the schedule's wire, and a request
parked by the stream path, then released, re-reviewed or cancelled through the same gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
import pytest

from gatekeeper.counters import guard
from gatekeeper.counters import schedule_wire as sw
from gatekeeper.counters.keys import Hasher
from gatekeeper.counters.memory_store import MemoryStore
from gatekeeper.deferral.messages import attempt_id
from gatekeeper.deferral.rule import deferred_until
from gatekeeper.deferral.schedule import Schedule
from gatekeeper.deferral.service import Releaser
from gatekeeper.gate import Gate
from gatekeeper.memory import Keeper, initialize_empty
from gatekeeper.policy import load_policy
from gatekeeper.signing import verify
from gatekeeper.stream.process import process_requests
from gatekeeper.stream.routing import Incoming, Outgoing
from gatekeeper.stream.runner import Runner
from gatekeeper.validate import event_from_dict, request_from_dict

KEY = b"defer-unit-key"
NIGHT = datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # 02:00 in New York: quiet hours
OPENS = datetime(2026, 3, 3, 13, 0, tzinfo=UTC)  # 08:00 in New York
WEEK = timedelta(days=7)


def body(n: int = 1, **fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "request_id": f"R{n}", "debtor_id": f"D{n}", "channel": "call",
        "destination": "+12125550100", "requested_at": "2026-03-03T06:59:00Z",
        "debtor": {"region": "US-NY", "timezone": "America/New_York"},
        "on_block": "defer"}
    value.update(fields)
    return value


def letter(n: int, **fields: Any) -> dict[str, Any]:
    fields.setdefault("content", {"amount_due": 10, "currency": "USD", "due_date": "2026-04-01",
                                  "payment_options": ["card"], "opt_out_instructions": "write"})
    return body(n, channel="letter", destination="ADDR-1", debtor_id="DL", **fields)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _gate(clock: Clock) -> tuple[Gate, MemoryStore]:
    store = MemoryStore(clock=lambda: clock.now.timestamp())
    if not (await guard.verify(store, guard.key_id(KEY), started_at=0.0)).trusted:
        await initialize_empty(store, KEY, purpose="test")
    return Gate(load_policy("default"), store, Hasher(KEY)), store


async def _decide(gate: Gate, value: dict[str, Any], now: datetime) -> Any:
    request = request_from_dict(value)
    (decision,) = await gate.decide([request], now)
    return request, decision


# ------------------------------------------------------------------ which blocks are deferred
async def test_quiet_hours_defer_to_the_opening_of_the_window() -> None:
    gate, _ = await _gate(Clock(NIGHT))
    request, decision = await _decide(gate, body(), NIGHT)
    assert decision["reasons"][0]["rule"] == "default/quiet-hours"
    assert deferred_until(request, decision, NIGHT, WEEK) == OPENS


async def test_a_calendar_limit_defers_to_the_next_period_within_the_horizon_only() -> None:
    late = datetime(2026, 3, 30, 15, tzinfo=UTC)
    gate, _ = await _gate(Clock(late))
    for n in (1, 2):
        await _decide(gate, letter(n), late)
    request, decision = await _decide(gate, letter(3), late)
    assert decision["reasons"][0]["rule"] == "default/letters-per-month"
    first_of_april = datetime(2026, 4, 1, 4, tzinfo=UTC)  # midnight in New York
    assert deferred_until(request, decision, late, WEEK) == first_of_april
    assert deferred_until(request, decision, late, timedelta(days=1)) is None  # too far


async def test_a_min_gap_defers_until_the_gap_has_passed() -> None:
    noon = datetime(2026, 3, 3, 17, tzinfo=UTC)
    gate, _ = await _gate(Clock(noon))
    await _decide(gate, body(1, debtor_id="G"), noon)  # a call, then a text
    request, decision = await _decide(gate, body(2, debtor_id="G", channel="sms", content={
        "opt_out_instructions": "STOP", "amount_due": 1, "currency": "USD",
        "due_date": "2026-04-01", "payment_options": ["card"]}), noon)
    assert [(r["kind"], r["retry_at"]) for r in decision["reasons"]] == \
        [("min_gap", "2026-03-03T20:00:00Z")]
    assert deferred_until(request, decision, noon, WEEK) == noon + timedelta(hours=3)


async def test_blocks_time_will_not_lift_are_not_deferred() -> None:
    gate, _ = await _gate(Clock(NIGHT))
    await gate.apply_events([event_from_dict({
        "event_id": "e1", "debtor_id": "D1", "type": "opt_out", "channel": "call",
        "occurred_at": "2026-03-01T00:00:00Z"})])
    request, decision = await _decide(gate, body(), NIGHT)  # opt-out (and quiet hours)
    assert decision["retry_at"] is None
    assert deferred_until(request, decision, NIGHT, WEEK) is None
    # missing content: a block no time lifts
    request, decision = await _decide(gate, letter(9, content={}), NIGHT)
    assert deferred_until(request, decision, NIGHT, WEEK) is None


async def test_not_after_review_and_an_allowed_decision_are_not_deferred() -> None:
    gate, _ = await _gate(Clock(NIGHT))
    request, decision = await _decide(gate, body(1, not_after="2026-03-03T12:00:00Z"), NIGHT)
    assert deferred_until(request, decision, NIGHT, WEEK) is None  # opens after not_after
    request, decision = await _decide(gate, body(2, on_block="review"), NIGHT)
    assert deferred_until(request, decision, NIGHT, WEEK) is None
    request, decision = await _decide(gate, body(3), OPENS)
    assert decision["decision"] == "allowed"
    assert deferred_until(request, decision, OPENS, WEEK) is None


def test_on_block_is_review_or_defer() -> None:
    from gatekeeper.errors import InvalidInput
    with pytest.raises(InvalidInput) as caught:
        request_from_dict(body(on_block="later"))
    assert caught.value.field == "on_block"


# ------------------------------------------------------------------ the wire (the script: the
# store contract suite, tests/store_contract.py, on the in-memory store and on Redis)
def test_an_entry_travels_unchanged_and_equal_times_sort_in_request_order() -> None:
    entry = sw.Entry(b'{"a": "\xc3\xa9"}', b"D1", "dec-1", 42)
    assert sw.Entry.decode(entry.encode()) == entry
    assert sorted([sw.order(10), sw.order(9), sw.order(255)]) == \
        [sw.order(9), sw.order(10), sw.order(255)]
    assert attempt_id("R1", 2) == "R1~defer2"
    assert len(attempt_id("x" * 128, 12)) == 128


# ------------------------------------------------------------------ parked, then released
def incoming(value: dict[str, Any], offset: int, partition: int = 0) -> Incoming:
    return Incoming(str(value.get("debtor_id")).encode(), orjson.dumps(value),
                    "contact.requests", partition, offset)


async def _world(clock: Clock, before_decide: Any = None
                 ) -> tuple[Gate, Schedule, Releaser, list[Outgoing]]:
    gate, store = await _gate(clock)
    schedule = Schedule(store)
    sent: list[Outgoing] = []

    async def produce(outputs: Any) -> None:
        sent.extend(outputs)

    async def never(progress: Any) -> dict[str, Any]:
        raise AssertionError("no rebuild in this test")

    runner = Runner(produce, Keeper(store, KEY, never))
    releaser = Releaser(gate, schedule, runner, lambda: [0], signing_key=b"sign", rate=100,
                        clock=clock, before_decide=before_decide and partial(before_decide, gate))
    return gate, schedule, releaser, sent


def kinds(outputs: list[Outgoing]) -> list[str]:
    return [o.kind for o in outputs]


async def test_a_parked_request_is_announced_then_forwarded_when_the_window_opens() -> None:
    clock = Clock(NIGHT)
    gate, schedule, releaser, sent = await _world(clock)
    message = incoming(body(), 7)
    outputs = await process_requests(gate, [message], NIGHT, b"sign", deferral=schedule)
    assert kinds(outputs) == ["deferred", "decisions"]
    announced = orjson.loads(outputs[0].value)
    assert announced["deferred_until"] == "2026-03-03T13:00:00Z"
    assert announced["decision"]["decision"] == "blocked" and announced["attempt"] == 1
    assert announced["original"].encode() == message.value
    recorded = orjson.loads(outputs[1].value)
    assert (recorded["via"], recorded["deferred_until"]) == ("stream", "2026-03-03T13:00:00Z")
    # a replay of the batch parks nothing twice and says the same
    again = await process_requests(gate, [message], NIGHT, b"sign", deferral=schedule)
    assert [o.value for o in again] == [o.value for o in outputs]
    clock.now = OPENS - timedelta(seconds=1)
    assert await releaser.step() == 0 and sent == []  # never early
    clock.now = OPENS + timedelta(milliseconds=300)
    assert await releaser.step() == 1
    assert kinds(sent) == ["allowed", "decisions"]
    allowed = sent[0]
    headers = dict(allowed.headers)
    assert allowed.value == message.value  # the original bytes
    assert headers["gk-deferred-from"] == announced["decision"]["decision_id"].encode()
    assert verify([b"sign"], headers["gk-signature"].decode(), "R1",
                  headers["gk-decision-id"].decode(), headers["gk-policy"].decode(),
                  allowed.value)
    record = orjson.loads(sent[1].value)
    assert (record["via"], record["defers"], record["attempt"]) == ("deferral", "R1", 1)
    assert record["request"]["request_id"] == attempt_id("R1", 1)
    assert dict(sent[1].headers)["gk-record"].startswith(b"a ")
    clock.now += timedelta(minutes=5)
    assert await releaser.step() == 0  # released once
    # counted: the same debtor's next call meets the daily cap and the 3-hour gap
    (_, nxt) = await _decide(gate, body(2, debtor_id="D1", on_block="review"), clock.now)
    assert [r["kind"] for r in nxt["reasons"]] == ["limit", "min_gap"]


async def test_an_idle_schedule_is_not_asked_again_until_something_is_parked() -> None:
    clock = Clock(NIGHT)
    gate, schedule, releaser, _ = await _world(clock)
    assert releaser._worth_a_look()  # never looked yet
    assert await releaser.step() == 0
    assert not releaser._worth_a_look()  # nothing parked: no round trip per tick
    await process_requests(gate, [incoming(body(), 7)], NIGHT, b"sign", deferral=schedule)
    assert releaser._worth_a_look()  # woken by the park
    assert await releaser.step() == 0  # (not due yet)
    assert releaser._worth_a_look()  # something parked: looked at every tick
    releaser.partitions = lambda: [0, 1]
    releaser._parked = 0
    assert releaser._worth_a_look()  # its partitions changed (a rebalance)
    assert await releaser.step() == 0
    releaser._parked = 0
    assert not releaser._worth_a_look()
    schedule.store.epoch = "rebuilt"  # a rebuild (or a restore) wrote a new epoch
    assert releaser._worth_a_look()  # the schedules may have been refilled from the record


async def test_an_opt_out_while_parked_sends_it_to_review() -> None:
    async def opt_out(gate: Gate) -> None:  # acknowledged just before the release: caught up
        await gate.apply_events([event_from_dict({
            "event_id": "e1", "debtor_id": "D1", "type": "opt_out", "channel": "call",
            "occurred_at": "2026-03-03T12:59:59Z"})])

    clock = Clock(NIGHT)
    gate, schedule, releaser, sent = await _world(clock, opt_out)
    await process_requests(gate, [incoming(body(), 1)], NIGHT, b"sign", deferral=schedule)
    clock.now = OPENS
    assert await releaser.step() == 1
    assert kinds(sent) == ["review", "decisions"]
    assert orjson.loads(sent[0].value)["request"]["request_id"] == "R1"


async def test_blocked_by_time_again_is_parked_again_then_reviewed_after_the_attempts() -> None:
    clock = Clock(NIGHT)
    gate, _, releaser, sent = await _world(clock)
    schedule = Schedule(gate.store, max_attempts=2)
    releaser.schedule = schedule
    await process_requests(gate, [incoming(body(1, debtor_id="G"), 1)], NIGHT, b"sign",
                           deferral=schedule)
    await _decide(gate, body(9, debtor_id="G", on_block="review"), OPENS)  # a call at 08:00
    clock.now = OPENS + timedelta(seconds=1)
    assert await releaser.step() == 1
    assert kinds(sent) == ["deferred", "decisions"]  # the day's call is made: parked again
    again = orjson.loads(sent[0].value)
    assert again["attempt"] == 2 and again["deferred_until"] == "2026-03-04T13:00:00Z"
    next_day = OPENS + timedelta(days=1)
    await _decide(gate, body(8, debtor_id="G", on_block="review"), next_day)
    sent.clear()
    clock.now = next_day + timedelta(seconds=1)
    assert await releaser.step() == 1
    assert kinds(sent) == ["review", "decisions"]  # blocked by time again, attempts used up


async def test_a_cancel_withdraws_a_parked_request_and_every_cancel_is_recorded() -> None:
    clock = Clock(NIGHT)
    gate, schedule, releaser, sent = await _world(clock)
    cancel = {"cancel": "R1", "debtor_id": "D1"}
    outputs = await process_requests(
        gate, [incoming(body(), 1), incoming(cancel, 2), incoming(cancel, 3),
               incoming({"cancel": "R7", "debtor_id": "D1"}, 4),
               incoming({"cancel": "", "debtor_id": "D1"}, 5)],
        NIGHT, b"sign", deferral=schedule)
    found = [orjson.loads(o.value).get("found") for o in outputs if o.kind == "deferred"]
    assert found == [None, "cancelled", "cancelled", "unknown"]
    invalid = [orjson.loads(o.value) for o in outputs if o.kind == "invalid"]
    assert invalid[0]["error"]["field"] == "cancel"
    clock.now = OPENS + timedelta(hours=1)
    assert await releaser.step() == 0 and sent == []  # never sent


# ------------------------------------------------------------------ rebuilt from the record
async def test_the_schedule_is_rebuilt_from_what_deferral_wrote_to_kafka() -> None:
    from gatekeeper.deferral.rebuild import Fold, calls

    clock = Clock(NIGHT)
    gate, schedule, releaser, sent = await _world(clock)
    written = await process_requests(
        gate, [incoming(body(1), 1), incoming(body(2), 2), incoming(body(3, debtor_id="G"), 3),
               incoming({"cancel": "R2", "debtor_id": "D2"}, 4)],
        NIGHT, b"sign", deferral=schedule)
    await _decide(gate, body(9, debtor_id="G", on_block="review"), OPENS)  # G: parked again
    clock.now = OPENS + timedelta(seconds=1)
    assert await releaser.step() == 2
    fold = Fold()
    for out in [*written, *sent]:
        if out.kind == "deferred":
            fold.deferred(out.value)
        elif out.kind == "decisions":
            fold.decision(out.value)
    states = fold.states()
    assert {k: (v.finished, v.attempt) for k, v in states.items()} == \
        {"R1": ("released", 1), "R2": ("cancelled", 1), "R3": (None, 2)}
    # a new, empty store gets the schedule back: R3 alone is due, at its new time
    _, lost = await _gate(clock)
    await lost.run(calls(states, 3 * 86400))
    next_day = OPENS + timedelta(days=1)
    size, due = sw.due_answer(0, (await lost.run([sw.due_call(0, next_day, 10)]))[0])
    assert size == 1 and [(d.request_id, d.attempt, d.until) for d in due] == \
        [("R3", 2, next_day)]
    assert due[0].entry.value == orjson.dumps(body(3, debtor_id="G"))
    for request_id in ("R1", "R2"):  # a replay of a finished one parks nothing
        answer = (await lost.run([sw.park_call(0, request_id, OPENS, due[0].entry)]))[0]
        assert sw.status(answer)[0] == "finished"
