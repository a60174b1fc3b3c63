"""Invariant 5 of the checker: what a debtor told us before a request binds it.

An allowed request is a violation ("ignored") when, at the broker timestamp of the request,
the debtor's events produced up to then (broker timestamps of ``debtor.events``, in log
order) leave an opt-out, a status, a cool-down or a missing opt-in in force that a rule of
the policy blocks the request for. The state is rebuilt with the gate's own pure code
(``state.event_fields``, last writer wins by event time as ``apply_state.lua`` does,
``state.state_from_hash``) and judged with ``plan.make_plan`` at the decision's
``gk-evaluated-at``, so each rule's ``except_purposes``, statuses and channels apply exactly as
the policy says; nothing is hard-coded here.

An event and a request with the same millisecond count as "before": the suite produces events
and waits for their acknowledgement before it produces the requests they must bind.

The gate may also know events produced after the request, up to its decision (a request
decided late, after a hold, sees a lift produced meanwhile: allowing it then is right). Its
state when deciding is the state at the request plus some prefix of those later events, in
log order. So a blocking reason is a violation only when it holds in every one of those
states: from the request's timestamp up to the decision's ``gk-evaluated-at``.
Outcomes are not read: only events are promised to bind the requests produced after them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from gatekeeper.counters.keys import Hasher
from gatekeeper.errors import InvalidInput
from gatekeeper.model import ContactRequest, DebtorEvent, Reason
from gatekeeper.plan import make_plan
from gatekeeper.policy.model import Policy
from gatekeeper.state import event_fields, state_from_hash
from gatekeeper.timeutil import parse_rfc3339
from gatekeeper.validate import parse_event, parse_request

if TYPE_CHECKING:
    from gatekeeper.invariants import Record

BINDING_KINDS = ("opt_out", "status", "cooldown", "opt_in_required")


class _Adds(Protocol):
    def add(self, kind: str, message: str) -> None: ...


def debtor_events(events: Iterable[Record]) -> dict[str, list[tuple[int, DebtorEvent]]]:
    """The valid events of each debtor with their broker timestamps, in the order the gate
    applies them (timestamp, then partition and offset: one debtor's events share a
    partition). Invalid events are skipped, as the gate dead-letters them."""
    by_debtor: dict[str, list[tuple[int, int, int, DebtorEvent]]] = defaultdict(list)
    for record in events:
        try:
            event = parse_event(record.value or b"")
        except InvalidInput:
            continue
        by_debtor[event.debtor_id].append((record.timestamp, record.partition, record.offset,
                                           event))
    return {debtor: [(ts, event) for ts, _, _, event in sorted(items, key=lambda i: i[:3])]
            for debtor, items in by_debtor.items()}


Fields = dict[str, tuple[int, str]]  # name -> (event time ms, value), as apply_state keeps


class _Replay:
    """One debtor's state fields, moved forward event by event (last writer wins)."""

    def __init__(self, events: list[tuple[int, DebtorEvent]], hasher: Hasher):
        self.events = events
        self.hasher = hasher
        self.applied = 0
        self.fields: Fields = {}

    def _apply(self, fields: Fields, event: DebtorEvent) -> None:
        when = int(event.occurred_at.timestamp() * 1000)
        for name, value in event_fields(event, self.hasher):
            current = fields.get(name)
            if current is None or when >= current[0]:
                fields[name] = (when, value)

    def up_to(self, timestamp: int) -> Fields:
        while self.applied < len(self.events) and self.events[self.applied][0] <= timestamp:
            self._apply(self.fields, self.events[self.applied][1])
            self.applied += 1
        return self.fields

    def later(self, until: int) -> Iterator[Fields]:
        """The states after each further event produced up to ``until`` (not kept)."""
        fields = dict(self.fields)
        for timestamp, event in self.events[self.applied:]:
            if timestamp > until:
                return
            self._apply(fields, event)
            yield fields


def _binding(request: ContactRequest, policy: Policy, fields: Fields, when: datetime,
             hasher: Hasher) -> dict[str, Reason]:
    """The reasons of a binding kind that block ``request`` in this state, by rule."""
    state = state_from_hash({name: f"{at}|{value}" for name, (at, value) in fields.items()})
    plan = make_plan(request, policy, state, when, hasher)
    return {r.rule: r for r in plan.blocking if r.kind in BINDING_KINDS}


def check_bound(report: _Adds, allowed: Sequence[Record],
                requested_at: Mapping[str, int], events: Iterable[Record],
                policy: Policy) -> int:
    """Report every allowed request that an earlier event of its debtor forbids; return how
    many allowed requests had at least one event before them (what the check covered)."""
    hasher = Hasher(b"invariant-checker")
    by_debtor = debtor_events(events)
    pending: dict[str, list[tuple[int, Record]]] = defaultdict(list)
    for record in allowed:
        request = parse_request(record.value or b"")
        if request.debtor_id in by_debtor and request.request_id in requested_at:
            pending[request.debtor_id].append((requested_at[request.request_id], record))
    covered = 0
    for debtor, requests in pending.items():
        replay = _Replay(by_debtor[debtor], hasher)
        for timestamp, record in sorted(requests, key=lambda r: r[0]):
            fields = replay.up_to(timestamp)
            if not replay.applied:
                continue
            covered += 1
            request = parse_request(record.value or b"")
            evaluated = dict(record.headers).get("gk-evaluated-at")
            if evaluated is None:
                continue  # reported as unchecked by the caller
            when = parse_rfc3339(evaluated.decode())
            held = _binding(request, policy, fields, when, hasher)
            for later in replay.later(int(when.timestamp() * 1000)):
                if not held:
                    break
                still = _binding(request, policy, later, when, hasher)
                held = {rule: reason for rule, reason in held.items() if rule in still}
            for reason in held.values():
                report.add("ignored", f"{request.request_id!r} of debtor {debtor!r} allowed "
                                      f"at {evaluated.decode()} although {reason.rule} held "
                                      f"from the request to the decision: {reason.message}")
    return covered
