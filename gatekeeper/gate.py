"""The gate: a batch of contact requests -> decisions, through the store.

Shared by the worker and ``simulate``: both pass the time (the worker the wall clock,
simulate each line's timestamp) and get the same planning, the same Lua and the same
verdicts.

One round trip per batch: the plans are made from the debtor states this gate last saw
(cached, with their versions), and ``decide.lua`` checks each version as it counts. A
request whose debtor's state changed (or was never seen) comes back ``stale`` with the
current state, is re-planned and sent again: a second round trip, for those alone.
The script records every outcome under the request id (status, time, counts, static
reasons); a replay rebuilds the same decision from that record.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from gatekeeper.counters import wire
from gatekeeper.counters.contract import StoreContract
from gatekeeper.counters.keys import Hasher, rule_code
from gatekeeper.errors import InvalidInput, StoreUnavailable
from gatekeeper.model import (
    OUTCOMES,
    ContactOutcome,
    ContactRequest,
    DebtorEvent,
    DebtorState,
    Decision,
    Reason,
)
from gatekeeper.plan import Plan, make_plan
from gatekeeper.policy.model import Policy
from gatekeeper.state import event_fields, outcome_fields, state_from_hash
from gatekeeper.verdict import StoreResult, decide

MAX_REPLANS = 5
DAY = 86400
STATE_CACHE = 200_000
EMPTY = DebtorState()
RESTORE_GRACE = 3600  # a restored record too old to keep lives this long: outcomes replayed
                      # during the rebuild settle it
Decided = tuple[Decision | InvalidInput, str | None]
# a recorded decision to restore: debtor id, request id, the request (parsed only when it
# must be planned again), the gk-record words
Recorded = tuple[str, str, Callable[[], ContactRequest], str]


@dataclass(frozen=True, slots=True)
class Ttls:
    decision_seconds: int = 3 * DAY
    state_seconds: int = 3 * 365 * DAY


class Gate:
    def __init__(self, policy: Policy, store: StoreContract, hasher: Hasher,
                 ttls: Ttls | None = None):
        self.policy = policy
        self.store = store
        self.hasher = hasher
        self.ttls = ttls or Ttls()
        self.counters_ttl = (policy.max_window_days + 2) * DAY
        self._settle_codes = _settle_codes(policy)
        self._rules = {rule_code(r.name): r for pack in policy.packs for r in pack.rules}
        self._states: OrderedDict[str, DebtorState] = OrderedDict()

    def _state(self, debtor_id: str) -> DebtorState:
        """The state last seen for a debtor (empty, version 0, when never seen)."""
        state = self._states.get(debtor_id)
        if state is None:
            return EMPTY
        self._states.move_to_end(debtor_id)
        return state

    def _remember(self, debtor_id: str, state: DebtorState) -> None:
        self._states[debtor_id] = state
        self._states.move_to_end(debtor_id)
        while len(self._states) > STATE_CACHE:
            self._states.popitem(last=False)

    async def decide(self, requests: Sequence[ContactRequest], now: datetime
                     ) -> list[Decision | InvalidInput]:
        """Decide every request, in order. Idempotent by request id: a request seen before
        gets its recorded decision; an id reused with other content is invalid input."""
        return [decision for decision, _ in await self.decide_recorded(requests, now)]

    async def decide_recorded(self, requests: Sequence[ContactRequest],
                              now: datetime | Sequence[datetime]) -> list[Decided]:
        """``decide``, each decision with its record (the words the store keeps, which go
        with the decision to ``contact.decisions`` so that a rebuild restores them).
        ``now`` may be one time per request (a backtest decides each at its recorded time)."""
        times = [now] * len(requests) if isinstance(now, datetime) else list(now)
        times = [t.replace(microsecond=t.microsecond // 1000 * 1000) for t in times]  # to the ms
        hashes = [content_hash(r) for r in requests]
        out: list[Decided | None] = [None] * len(requests)
        todo = list(range(len(requests)))
        for _ in range(MAX_REPLANS):
            if not todo:
                break
            plans = {i: make_plan(requests[i], self.policy, self._state(requests[i].debtor_id),
                                  times[i], self.hasher) for i in todo}
            answers = await self.store.run([
                wire.decide_call(plans[i], hashes[i], counters_ttl=self.counters_ttl,
                                 decision_seconds=self.ttls.decision_seconds) for i in todo])
            stale = []
            for i, answer in zip(todo, answers, strict=True):
                result = wire.decide_answer(plans[i], hashes[i], answer, self.hasher.key_id)
                if isinstance(result, wire.Stale):
                    self._remember(requests[i].debtor_id, state_from_hash(result.state))
                    stale.append(i)
                elif isinstance(result, wire.Replayed):
                    out[i] = (self._replay(requests[i], result.record, hashes[i]),
                              result.record.words())
                else:
                    out[i] = (decide(plans[i], StoreResult(result.status, result.counts,
                                                           result.last, result.gaps)),
                              result.record)
            todo = stale
        if todo:
            raise StoreUnavailable("debtor state keeps changing under the decision")
        return [d for d in out if d is not None]

    def _replay(self, request: ContactRequest, record: wire.Record, wanted_hash: str
                ) -> Decision | InvalidInput:
        """Rebuild a recorded decision: the plan at the recorded time, with the recorded
        counts, last contact and blocking rules, gives the same verdict again."""
        if record.content_hash != wanted_hash:
            return InvalidInput(
                f"request_id {request.request_id!r} was decided before for other content; "
                "a request id must not be reused", field="request_id",
                expected="a new request id, or the same request unchanged",
                found=request.request_id)
        plan = make_plan(request, self.policy, self._state(request.debtor_id), record.when,
                         self.hasher)
        plan = plan._replace(blocking=self._recorded_reasons(plan, record.rules))
        counts = wire.split_counts(plan, record.counts or ())
        decision = decide(plan, StoreResult(record.decision, counts, record.last_contact,
                                            wire.gap_contacts(plan, record)))
        decision["decision"] = record.decision  # what was recorded stands
        return decision

    def _recorded_reasons(self, plan: Plan, codes: Sequence[str]) -> tuple[Reason, ...]:
        """The static reasons of the first decision, by rule; the re-made plan words them,
        unless the debtor's state has changed so much that it no longer finds them."""
        found = {rule_code(r.rule): r for r in plan.blocking}
        reasons = []
        for code in codes:
            if code in found:
                reasons.append(found[code])
                continue
            rule = self._rules.get(code)
            name = rule.name if rule else f"unknown/{code}"
            reasons.append(Reason(rule=name, kind=rule.kind if rule else "unknown",
                                  message="blocked when first decided; the debtor's state "
                                          "has changed since",
                                  citation=rule.citation if rule else None))
        return tuple(reasons)

    def must_plan(self, record: str) -> bool:
        """Must a recorded decision be planned again to be restored? (an allowed one whose
        counted fields were made with another hashing key, or were not recorded)"""
        return self._must_plan(wire.Record.parse_travelling(record))

    def _must_plan(self, record: wire.Record) -> bool:
        return record.status == "a" and record.key_id != self.hasher.key_id

    async def restore(self, recorded: Sequence[Recorded], now: datetime) -> dict[str, int]:
        """Put recorded decisions back while the store is rebuilt: each record, and, for an
        allowed one, its counts (once, even if Kafka holds it twice): the fields it recorded,
        or, when they were made with another hashing key, those of its plan at the recorded
        time from the state the rebuild has reached. Returns how many were restored, and how
        many were already there."""
        calls = []
        for debtor_id, request_id, request, text in recorded:
            record = wire.Record.parse_travelling(text)
            counted, releasable, gaps = record.counted, record.releasable, record.gap_writes
            if self._must_plan(record):  # (the record parsed once)
                # counted under another hashing key (or not recorded): plan it again
                try:
                    plan = make_plan(request(), self.policy, self._state(debtor_id),
                                     record.when, self.hasher)
                except InvalidInput:  # a request this version no longer reads: its record
                    counted, releasable, gaps = (), (), ()  # stays, its counts cannot be
                else:  # re-made
                    counted = wire.counted_fields(plan)
                    releasable = wire.releasable_fields(plan)
                    gaps = tuple(plan.gap_writes)
            calls.append(wire.restore_call(
                counted, releasable, gaps, debtor_id, request_id, record, now=now,
                counters_ttl=self.counters_ttl, decision_seconds=self.ttls.decision_seconds,
                grace=RESTORE_GRACE))
        answers = await self.store.run(calls)
        restored = sum(1 for a in answers if wire.restore_answer(a))
        return {"restored": restored, "duplicates": len(answers) - restored}

    async def apply_events(self, events: Sequence[DebtorEvent]) -> None:
        """Apply events to the debtors' states, and remember the states they leave (the
        request agent of the same worker then plans from them without a second trip)."""
        calls, debtors = [], []
        for event in events:
            fields = event_fields(event, self.hasher)
            if fields:
                calls.append(wire.state_call(event.debtor_id, event.occurred_at, fields,
                                             state_ttl=self.ttls.state_seconds))
                debtors.append(event.debtor_id)
        for debtor_id, state in zip(debtors, await self.store.run(calls), strict=True):
            self._remember(debtor_id, state_from_hash(wire.pairs(state)))

    def changes_anything(self, outcome: ContactOutcome) -> bool:
        """Whether applying ``outcome`` can change a later decision: it releases counts of
        some rule, or it is a conversation (cool-downs). Else it only marks its record."""
        return bool(self._settle_codes.get(outcome.outcome)) or bool(outcome_fields(outcome))

    async def apply_outcomes(self, outcomes: Sequence[ContactOutcome], now: datetime
                             ) -> list[Any]:
        """Settle each outcome's reservation (records are looked up at ``now``) and start
        cool-downs from conversations."""
        calls, states = [], []  # (positions of the state calls' answers, and their debtors)
        for outcome in outcomes:
            calls.append(wire.settle_call(
                outcome.debtor_id, outcome.request_id, outcome.outcome,
                self._settle_codes.get(outcome.outcome, ()), now=now,
                decision_seconds=self.ttls.decision_seconds))
            fields = outcome_fields(outcome)
            if fields:
                states.append((len(calls), outcome.debtor_id))
                calls.append(wire.state_call(outcome.debtor_id, outcome.occurred_at, fields,
                                             state_ttl=self.ttls.state_seconds))
        answers = await self.store.run(calls)
        for at, debtor_id in states:  # (as apply_events: the next plan needs no second trip)
            self._remember(debtor_id, state_from_hash(wire.pairs(answers[at])))
        return answers


def content_hash(request: ContactRequest) -> str:
    """A hash of the request's content, independent of key order and spacing."""
    canonical = orjson.dumps(request.raw, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:10]


def _settle_codes(policy: Policy) -> dict[str, tuple[str, ...]]:
    """Per outcome, the codes of limit rules that do not count it (their reservation is
    released when that outcome is reported)."""
    codes: dict[str, list[str]] = {o: [] for o in OUTCOMES}
    for pack in policy.packs:
        for rule in pack.rules:
            counted = rule.params.get("counts")
            if rule.kind != "limit" or not counted:
                continue
            for outcome in OUTCOMES:
                if outcome not in counted:
                    codes[outcome].append(rule_code(rule.name))
    return {o: tuple(c) for o, c in codes.items()}
