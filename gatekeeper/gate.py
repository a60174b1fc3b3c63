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

import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from gatekeeper.counters.keys import Hasher, counters_key, request_tag, rule_code, state_key
from gatekeeper.counters.store import Call, Store
from gatekeeper.errors import InvalidInput, StoreUnavailable
from gatekeeper.model import (
    OUTCOMES,
    ContactOutcome,
    ContactRequest,
    DebtorEvent,
    DebtorState,
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
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Ttls:
    decision_seconds: int = 3 * DAY
    state_seconds: int = 3 * 365 * DAY


class Gate:
    def __init__(self, policy: Policy, store: Store, hasher: Hasher, ttls: Ttls | None = None):
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
                     ) -> list[dict[str, Any] | InvalidInput]:
        """Decide every request, in order. Idempotent by request id: a request seen before
        gets its recorded decision; an id reused with other content is invalid input."""
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # recorded to the ms
        hashes = [content_hash(r) for r in requests]
        out: list[dict[str, Any] | InvalidInput | None] = [None] * len(requests)
        todo = list(range(len(requests)))
        for _ in range(MAX_REPLANS):
            if not todo:
                break
            plans = {i: make_plan(requests[i], self.policy, self._state(requests[i].debtor_id),
                                  now, self.hasher) for i in todo}
            results = await self.store.run([self._decide_call(plans[i], hashes[i])
                                            for i in todo])
            stale = []
            for i, result in zip(todo, results, strict=True):
                kind = result[0]
                if kind == "stale":
                    self._remember(requests[i].debtor_id, state_from_hash(_pairs(result[2:])))
                    stale.append(i)
                elif kind == "replay":
                    out[i] = self._replay(requests[i], result[1], hashes[i])
                else:
                    out[i] = self._verdict(plans[i], result)
            todo = stale
        if todo:
            raise StoreUnavailable("debtor state keeps changing under the decision")
        return [d for d in out if d is not None]

    def _generation(self, when: datetime) -> int:
        return int(when.timestamp()) // self.ttls.decision_seconds

    def _decide_call(self, plan: Plan, payload_hash: str) -> Call:
        request = plan.request
        rules = ",".join(rule_code(r.rule) for r in plan.blocking) or "-"
        # a record lives until its generation has passed twice: one to two decision TTLs
        generation = self._generation(plan.now)
        record_ttl = (generation + 2) * self.ttls.decision_seconds - int(plan.now.timestamp())
        args: list[Any] = [
            plan.state_version,
            "check" if plan.statically_blocked else "decide",
            f"{plan.now.timestamp():.3f}",
            plan.spacing_seconds,
            self.counters_ttl,
            record_ttl,
            generation,
            request_tag(request.request_id),
            payload_hash,
            rules,
            len(plan.checks),
        ]
        prune: list[str] = []
        for check in plan.checks:
            releasable = 1 if check.rule.params.get("counts") else 0
            args += [check.limit, 0 if check.shadow else 1, releasable, len(check.fields),
                     *check.fields]
            if not plan.statically_blocked:
                prune += _stale_fields(check.increment, check.period, len(check.fields))
        args += [len(prune), *prune]
        return Call("decide", [counters_key(request.debtor_id), state_key(request.debtor_id)],
                    args)

    def _verdict(self, plan: Plan, result: list[Any]) -> dict[str, Any]:
        last = float(result[1]) if result[1] else None
        return decide(plan, StoreResult(str(result[0]), _split(plan, result[2:]), last))

    def _replay(self, request: ContactRequest, record: str, wanted_hash: str
                ) -> dict[str, Any] | InvalidInput:
        """Rebuild a recorded decision: the plan at the recorded time, with the recorded
        counts, last contact and blocking rules, gives the same verdict again."""
        status, when, stored_hash, counts, last, rules = record.split(" ")[:6]
        if stored_hash != wanted_hash:
            return InvalidInput(
                f"request_id {request.request_id!r} was decided before for other content; "
                "a request id must not be reused", field="request_id",
                expected="a new request id, or the same request unchanged",
                found=request.request_id)
        plan = make_plan(request, self.policy, self._state(request.debtor_id),
                         _from_millis(when), self.hasher)
        plan = dataclasses.replace(plan, blocking=self._recorded_reasons(plan, rules))
        numbers = [int(c) for c in counts.split(",")] if counts != "-" else []
        if len(numbers) != sum(len(c.fields) for c in plan.checks):
            numbers = [0] * sum(len(c.fields) for c in plan.checks)  # the policy changed
        word = "allowed" if status == "a" else "blocked"
        decision = decide(plan, StoreResult(word, _split(plan, numbers),
                                            float(last) if last != "-" else None))
        decision["decision"] = word  # what was recorded stands
        return decision

    def _recorded_reasons(self, plan: Plan, rules: str) -> tuple[Reason, ...]:
        """The static reasons of the first decision, by rule; the re-made plan words them,
        unless the debtor's state has changed so much that it no longer finds them."""
        if rules == "-":
            return ()
        found = {rule_code(r.rule): r for r in plan.blocking}
        reasons = []
        for code in rules.split(","):
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

    async def apply_events(self, events: Sequence[DebtorEvent]) -> None:
        """Apply events to the debtors' states, and remember the states they leave (the
        request agent of the same worker then plans from them without a second trip)."""
        calls, debtors = [], []
        for event in events:
            fields = event_fields(event, self.hasher)
            if fields:
                calls.append(self._state_call(event.debtor_id, event.occurred_at, fields))
                debtors.append(event.debtor_id)
        for debtor_id, state in zip(debtors, await self.store.run(calls), strict=True):
            self._remember(debtor_id, state_from_hash(_pairs(state)))

    async def apply_outcomes(self, outcomes: Sequence[ContactOutcome], now: datetime
                             ) -> list[Any]:
        """Settle each outcome's reservation (records are looked up at ``now``) and start
        cool-downs from conversations."""
        calls = []
        for outcome in outcomes:
            codes = self._settle_codes.get(outcome.outcome, ())
            calls.append(Call("settle", [counters_key(outcome.debtor_id)],
                              [self._generation(now), request_tag(outcome.request_id),
                               outcome.outcome,
                               len(codes), *codes]))
            fields = outcome_fields(outcome)
            if fields:
                calls.append(self._state_call(outcome.debtor_id, outcome.occurred_at, fields))
        return await self.store.run(calls)

    def _state_call(self, debtor_id: str, when: datetime, fields: list[tuple[str, str]]
                    ) -> Call:
        args: list[Any] = [self.ttls.state_seconds, int(when.timestamp() * 1000), len(fields)]
        for name, value in fields:
            args += [name, value]
        return Call("apply_state", [state_key(debtor_id)], args)


def _from_millis(text: str) -> datetime:
    """The recorded evaluation time ("<seconds>.<3 digits>"), exactly."""
    seconds, _, fraction = text.partition(".")
    return EPOCH + timedelta(seconds=int(seconds), milliseconds=int(fraction.ljust(3, "0")[:3]))


def _pairs(flat: Sequence[Any]) -> dict[str, str]:
    """HGETALL's flat [field, value, ...] answer (as Lua returns it) as a dict."""
    if isinstance(flat, dict):
        return flat
    return dict(zip(flat[0::2], flat[1::2], strict=True))


def _split(plan: Plan, counts: Sequence[Any]) -> tuple[tuple[int, ...], ...]:
    """The flat list of field counts, cut per check."""
    out, at = [], 0
    for check in plan.checks:
        out.append(tuple(int(c) for c in counts[at:at + len(check.fields)]))
        at += len(check.fields)
    return tuple(out)


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


ZONE_SKEW_DAYS = 2  # local dates of one instant differ by up to two days across zones


def _stale_fields(increment: str, period: str, window_days: int) -> list[str]:
    """Fields of the same rule and scope from periods that no window still covers, in any
    zone: one debtor's requests may be planned in zones whose local dates differ (UTC-12 to
    UTC+14), so a period is pruned only once it is out of reach from every one of them."""
    head, _, key = increment.rpartition("|")
    if period in ("day", "rolling"):
        last = int(key) - window_days - ZONE_SKEW_DAYS  # the newest day no window can reach
        return [f"{head}|{n}" for n in range(last - 6, last + 1)]
    if period == "week":
        week = int(key[1:])
        return [f"{head}|w{week - 2}", f"{head}|w{week - 3}"]
    month = int(key[1:])
    return [f"{head}|m{month - 2}"]

