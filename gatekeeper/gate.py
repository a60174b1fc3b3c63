"""The gate: a batch of contact requests -> decisions, through the store.

Shared by the worker and ``simulate``: both pass the time (the worker the wall clock,
simulate each line's timestamp) and get the same planning, the same Lua and the same
verdicts. Round trips per batch: one read (state and earlier decisions), one decide, and
one store for decisions the decide script could not record itself (blocked ones).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from gatekeeper.counters.keys import Hasher, counters_key, record_key, rule_code, state_key
from gatekeeper.counters.store import Call, Store
from gatekeeper.errors import InvalidInput, StoreUnavailable
from gatekeeper.model import OUTCOMES, ContactOutcome, ContactRequest, DebtorEvent
from gatekeeper.plan import Plan, make_plan
from gatekeeper.policy.model import Policy
from gatekeeper.state import event_fields, outcome_fields, state_from_hash
from gatekeeper.verdict import StoreResult, allowed_decision, decide

MAX_REPLANS = 5
DAY = 86400


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

    async def decide(self, requests: Sequence[ContactRequest], now: datetime
                     ) -> list[dict[str, Any] | InvalidInput]:
        """Decide every request, in order. Idempotent by request id: a request seen before
        gets its recorded decision; an id reused with other content is invalid input."""
        if not requests:
            return []
        hashes = [content_hash(r) for r in requests]
        debtors = list(dict.fromkeys(r.debtor_id for r in requests))
        answers = await self.store.read(
            [("HGETALL", state_key(d)) for d in debtors]
            + [("HMGET", record_key(r.debtor_id, r.request_id), "d", "h") for r in requests])
        states = {d: state_from_hash(a) for d, a in zip(debtors, answers, strict=False)}
        decisions: list[dict[str, Any] | None] = [None] * len(requests)
        recorded: list[str | None] = [None] * len(requests)
        for i, (stored, stored_hash) in enumerate(answers[len(debtors):]):
            if stored:
                decisions[i], recorded[i] = orjson.loads(stored), stored_hash or ""

        todo = [i for i, d in enumerate(decisions) if d is None]
        plans: dict[int, Plan] = {}
        for _ in range(MAX_REPLANS):
            for i in todo:
                plans[i] = make_plan(requests[i], self.policy, states[requests[i].debtor_id],
                                     now, self.hasher)
            results = await self.store.run([self._decide_call(plans[i], hashes[i])
                                            for i in todo])
            stale = []
            for i, result in zip(todo, results, strict=True):
                if result[0] == "stale":
                    stale.append(i)
                elif result[0] == "replay":
                    decisions[i], recorded[i] = orjson.loads(result[1]), result[2]
                else:
                    decisions[i] = self._verdict(plans[i], result)
            if not stale:
                break
            fresh = list(dict.fromkeys(requests[i].debtor_id for i in stale))
            rows = await self.store.read([("HGETALL", state_key(d)) for d in fresh])
            states.update({d: state_from_hash(a) for d, a in zip(fresh, rows, strict=True)})
            todo = stale
        else:
            raise StoreUnavailable("debtor state keeps changing under the decision")

        await self._record(requests, decisions, plans, hashes, recorded)
        out: list[dict[str, Any] | InvalidInput] = []
        for decision, stored_hash, wanted in zip(decisions, recorded, hashes, strict=True):
            assert decision is not None
            if stored_hash is not None and stored_hash and stored_hash != wanted:
                out.append(InvalidInput(
                    f"request_id {decision['request_id']!r} was decided before for other "
                    "content; a request id must not be reused", field="request_id",
                    expected="a new request id, or the same request unchanged",
                    found=decision["request_id"]))
            else:
                out.append(decision)
        return out

    def _decide_call(self, plan: Plan, payload_hash: str) -> Call:
        request = plan.request
        args: list[Any] = [
            plan.state_version,
            "check" if plan.statically_blocked else "decide",
            f"{plan.now.timestamp():.3f}",
            plan.spacing[1] if plan.spacing else 0,
            self.counters_ttl,
            self.ttls.decision_seconds,
            orjson.dumps(allowed_decision(plan)).decode(),
            payload_hash,
            len(plan.checks),
        ]
        prune: list[str] = []
        for check in plan.checks:
            args += [check.limit, 0 if check.shadow else 1, len(check.fields), *check.fields]
            prune += _stale_fields(check.increment, check.period, len(check.fields))
        args += [len(prune), *prune]
        return Call("decide", [counters_key(request.debtor_id),
                               record_key(request.debtor_id, request.request_id),
                               state_key(request.debtor_id)], args)

    def _verdict(self, plan: Plan, result: list[Any]) -> dict[str, Any]:
        counts, at = [], 2
        for check in plan.checks:
            counts.append(tuple(int(c) for c in result[at:at + len(check.fields)]))
            at += len(check.fields)
        last = float(result[1]) if result[1] else None
        status = str(result[0])
        decision = decide(plan, StoreResult(status, tuple(counts), last))
        decision["_status"] = status
        return decision

    async def _record(self, requests: Sequence[ContactRequest],
                      decisions: list[dict[str, Any] | None], plans: dict[int, Plan],
                      hashes: list[str], recorded: list[str | None]) -> None:
        """Record what the decide script did not: blocked decisions (kept if another
        worker recorded one first) and allowed ones whose shadow list grew."""
        calls, where = [], []
        for i, decision in enumerate(decisions):
            if decision is None or "_status" not in decision:
                continue
            status = decision.pop("_status")
            if status == "allowed" and decision == allowed_decision(plans[i]):
                continue
            mode = "replace" if status == "allowed" else "keep"
            request = requests[i]
            calls.append(Call("store_decision", [record_key(request.debtor_id,
                                                            request.request_id)],
                              [orjson.dumps(decision).decode(), self.ttls.decision_seconds,
                               mode, hashes[i]]))
            where.append(i)
        for i, (stored, stored_hash) in zip(where, await self.store.run(calls), strict=True):
            decisions[i], recorded[i] = orjson.loads(stored), stored_hash

    async def apply_events(self, events: Sequence[DebtorEvent]) -> None:
        calls = []
        for event in events:
            fields = event_fields(event, self.hasher)
            if fields:
                calls.append(self._state_call(event.debtor_id, event.occurred_at, fields))
        await self.store.run(calls)

    async def apply_outcomes(self, outcomes: Sequence[ContactOutcome]) -> list[Any]:
        calls = []
        for outcome in outcomes:
            codes = self._settle_codes.get(outcome.outcome, ())
            calls.append(Call("settle", [counters_key(outcome.debtor_id),
                                         record_key(outcome.debtor_id, outcome.request_id)],
                              [outcome.outcome, len(codes), *codes]))
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


def content_hash(request: ContactRequest) -> str:
    """A hash of the request's content, independent of key order and spacing."""
    canonical = orjson.dumps(request.raw, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


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


def _stale_fields(increment: str, period: str, window_days: int) -> list[str]:
    """Fields of the same rule and scope from periods that no window still covers."""
    head, _, key = increment.rpartition("|")
    if period in ("day", "rolling"):
        today = int(key)
        return [f"{head}|{n}" for n in range(today - window_days - 6, today - window_days + 1)]
    if period == "week":
        week = int(key[1:])
        return [f"{head}|w{week - 1}", f"{head}|w{week - 2}"]
    month = int(key[1:])
    return [f"{head}|m{month - 1}"]

