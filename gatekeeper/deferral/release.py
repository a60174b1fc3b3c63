"""Due entries -> decisions through the same gate, and what each leaves.

Each attempt is decided under its own id (``messages.attempt_id``: the gate is idempotent
by request id, so a crash between a decision and its ``finish`` decides nothing new: the
next try replays the recorded decision and sends the same messages again). Then:

* allowed: counted by the gate, the original bytes to ``contact.allowed`` (signed, with
  ``gk-deferred-from``); finished as ``released``;
* blocked by time again (deferrable, fewer than ``max_attempts`` decided): parked again
  and announced again; the schedule moves the entry to its new time;
* blocked otherwise (an opt-out since, ``not_after`` passed, the attempts used up): to
  ``contact.review``; finished as ``reviewed``.

Every attempt is recorded on ``contact.decisions`` with ``"via": "deferral"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gatekeeper.counters import schedule_wire as sw
from gatekeeper.counters.wire import Call
from gatekeeper.deferral import messages
from gatekeeper.deferral.schedule import Schedule
from gatekeeper.errors import InvalidInput
from gatekeeper.gate import Gate
from gatekeeper.model import Decision
from gatekeeper.stream import routing
from gatekeeper.stream.routing import Incoming, Outgoing
from gatekeeper.validate import decode, request_from_dict


@dataclass(frozen=True, slots=True)
class Released:
    """What one due entry left: its outputs, the schedule call that settles it, and what
    became of it (released | reparked | reviewed | invalid)."""

    due: sw.Due
    outputs: list[Outgoing]
    settle: Call
    fate: str
    decision: Decision | None = None


async def decide_due(gate: Gate, schedule: Schedule, dues: Sequence[sw.Due], now: datetime,
                     signing_key: bytes | None) -> list[Released]:
    """Decide every due entry at ``now`` (one gate batch)."""
    out: list[Released | None] = [None] * len(dues)
    requests, todo = [], []
    for i, due in enumerate(dues):
        message = Incoming(due.entry.key, due.entry.value, "deferral", due.partition,
                           due.entry.offset)
        try:
            raw = decode(due.entry.value)
            requests.append(request_from_dict(
                {**raw, "request_id": messages.attempt_id(due.request_id, due.attempt)}))
            todo.append((i, message, raw))
        except InvalidInput as error:  # no longer meets the contract: dead-lettered
            out[i] = Released(due, [routing.invalid(message, error)],
                              _finish(schedule, due, "reviewed", now), "invalid")
    results = await gate.decide_recorded(requests, now) if requests else []
    for (i, message, raw), request, (decision, stored) in zip(todo, requests, results,
                                                              strict=True):
        due = dues[i]
        if isinstance(decision, InvalidInput):
            out[i] = Released(due, [routing.invalid(message, decision)],
                              _finish(schedule, due, "reviewed", now), "invalid")
            continue
        until = schedule.until(request, decision, now)
        fate = "released" if decision["decision"] == "allowed" else \
            "parked" if until is not None and due.attempt < schedule.max_attempts else "reviewed"
        record = messages.attempt_record(message, {**raw, "request_id": request.request_id},
                                         decision, stored, due.request_id, due.attempt, fate)
        if fate == "released":
            sent = messages.released(message, decision, due.request_id,
                                     due.entry.first_decision_id, signing_key)
            out[i] = Released(due, [sent, record], _finish(schedule, due, "released", now),
                              "released", decision)
        elif fate == "parked" and until is not None:
            announced = messages.announcement(message, raw, decision, until, due.attempt + 1,
                                              due.entry)
            out[i] = Released(due, [announced, record],
                              sw.repark_call(due.partition, due.request_id, due.attempt, until,
                                             due.entry), "reparked", decision)
        else:
            out[i] = Released(due, [routing.review(message, raw, decision), record],
                              _finish(schedule, due, "reviewed", now), "reviewed", decision)
    return [r for r in out if r is not None]


def _finish(schedule: Schedule, due: sw.Due, how: str, now: datetime) -> Call:
    return sw.finish_call(due.partition, due.request_id, due.attempt, how, now,
                          schedule.keep_seconds)
