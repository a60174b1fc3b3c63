"""Record a synthetic history: decide its requests through the same gate as the worker (each
at its own time, on a store of its own), apply its events, draw an outcome for every allowed
contact (``SyntheticHistory.respond``) and apply those too, in time order. The result is the
record a worker would have written: ``debtor.events``, ``contact.decisions`` (with the
``gk-record`` header) and ``contact.outcomes``, each message with its broker timestamp.

It goes onto Kafka (``gatekeeper history generate``, ``analytics.run``: onto empty topics
only, so a real record is never mixed with a synthetic one), into a ``simulate`` history
file (``history_lines``), or straight to ``report`` and ``backtest`` as record items
(``items``), as the tests and the benchmark use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from gatekeeper.analytics.replay import Lanes, Step
from gatekeeper.analytics.synthetic import SyntheticHistory, stamp
from gatekeeper.counters.wire import generation
from gatekeeper.errors import InvalidInput
from gatekeeper.gate import Gate
from gatekeeper.model import ContactOutcome, ContactRequest, DebtorEvent
from gatekeeper.record_reader import KINDS, Item
from gatekeeper.validate import event_from_dict, outcome_from_dict, request_from_dict

EVENTS, REQUESTS, OUTCOMES = range(3)  # at one time: events first, as live


@dataclass(frozen=True, slots=True)
class Message:
    """One message of the record: its topic kind (events, decisions, outcomes), key, value,
    broker timestamp (ms) and, for a decision, the gk-record header."""

    kind: str
    key: bytes
    value: bytes
    timestamp: int
    record: str | None = None


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class Recorder:
    """Every request's outcome is drawn up front (as if it were placed) and applied, at its
    time, only when the request was allowed: the carriers report placed contacts only."""

    def __init__(self, history: SyntheticHistory, gate: Gate,
                 progress: Callable[[int], None] | None = None):
        self.history, self.gate = history, gate
        self.messages: list[Message] = []
        self.allowed: set[str] = set()
        self.progress = progress or (lambda _: None)
        self.decided = 0
        self.lanes = Lanes({EVENTS: self._events, REQUESTS: self._decide,
                            OUTCOMES: self._outcomes})

    def steps(self) -> list[Step]:
        steps = []
        for line in self.history.lines():
            debtor = line.data["debtor_id"]
            if line.kind == "event":
                steps.append(Step(EVENTS, line.at, debtor, event_from_dict(line.data)))
                continue
            request = request_from_dict(line.data)
            steps.append(Step(REQUESTS, line.at, debtor, request))
            drawn = self.history.respond(line.data)
            if drawn is not None:
                outcome = outcome_from_dict(drawn)
                steps.append(Step(OUTCOMES, outcome.occurred_at, debtor, outcome))
        steps.sort(key=lambda step: (step.at, step.kind))
        return steps

    async def run(self) -> list[Message]:
        await self.lanes.run(self.steps())
        self.messages.sort(key=lambda m: (m.timestamp, KINDS.index(m.kind)))
        return self.messages

    async def _events(self, steps: list[Step]) -> None:
        events: list[DebtorEvent] = [step.payload for step in steps]
        await self.gate.apply_events(events)
        self.messages += [Message("events", e.debtor_id.encode(), orjson.dumps(_raw_event(e)),
                                  _ms(e.occurred_at)) for e in events]

    async def _decide(self, steps: list[Step]) -> None:
        requests: list[ContactRequest] = [step.payload for step in steps]
        results = await self.gate.decide_recorded(requests, [r.requested_at for r in requests])
        for request, (decision, record) in zip(requests, results, strict=True):
            if isinstance(decision, InvalidInput):
                continue  # (a reused request id: the worker dead-letters it, records nothing)
            value = orjson.dumps({"request": request.raw, "decision": decision, "via": "stream"})
            self.messages.append(Message("decisions", request.debtor_id.encode(), value,
                                         _ms(request.requested_at), record))
            if decision["decision"] == "allowed":
                self.allowed.add(request.request_id)
        self.decided += len(requests)
        self.progress(self.decided)

    async def _outcomes(self, steps: list[Step]) -> None:
        groups: dict[int, list[ContactOutcome]] = {}
        for step in steps:
            outcome: ContactOutcome = step.payload
            if outcome.request_id not in self.allowed:
                continue
            self.messages.append(Message("outcomes", outcome.debtor_id.encode(),
                                         orjson.dumps(_raw_outcome(outcome)),
                                         _ms(outcome.occurred_at)))
            groups.setdefault(generation(outcome.occurred_at, self.gate.ttls.decision_seconds),
                              []).append(outcome)
        for outcomes in groups.values():
            await self.gate.apply_outcomes(outcomes, outcomes[0].occurred_at)


def _raw_event(event: DebtorEvent) -> dict[str, Any]:
    body: dict[str, Any] = {"event_id": event.event_id, "debtor_id": event.debtor_id,
                            "type": event.type, "occurred_at": stamp(event.occurred_at)}
    if event.channel:
        body["channel"] = event.channel
    if event.data:
        body["data"] = event.data
    return body


def _raw_outcome(outcome: ContactOutcome) -> dict[str, Any]:
    return {"request_id": outcome.request_id, "debtor_id": outcome.debtor_id,
            "outcome": outcome.outcome, "occurred_at": stamp(outcome.occurred_at)}


def items(messages: Iterable[Message]) -> list[Item]:
    """The record as ``record_reader`` reads it from Kafka, in broker-timestamp order."""
    out = [Item(m.timestamp, KINDS.index(m.kind), m.key, m.value, m.record) for m in messages]
    out.sort(key=lambda item: (item.timestamp, item.order))
    return out


def history_lines(messages: Iterable[Message]) -> Iterable[bytes]:
    """The record as a ``simulate`` history: events, requests and outcomes, in time order."""
    for message in messages:
        body: Any = orjson.loads(message.value)
        if message.kind == "decisions":
            yield orjson.dumps({"kind": "request", "data": body["request"]}) + b"\n"
        else:
            yield orjson.dumps({"kind": message.kind[:-1], "data": body}) + b"\n"
