"""PURE: Plan + store result -> Decision (a JSON-ready dict).

The store reports, per counter check, the counts of its fields, the time of the
debtor's last contact, and per gap check the time of the last contact it counts. From those
and the plan's static verdicts this module names every reason, and finds ``retry_at``: the
first instant at which every time-based rule passes (null when a rule blocks that time will
not lift, such as an opt-out).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from gatekeeper.localtime import NotBefore, earliest_common
from gatekeeper.model import Decision, Reason
from gatekeeper.plan import CounterCheck, GapCheck, Plan, period_end
from gatekeeper.policy.model import Rule
from gatekeeper.timeutil import format_retry, format_utc, from_epoch, shift

MARGIN = 0.001  # seconds: times are kept to the millisecond; closer ones are compared exactly


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What the decision script answered for one request."""

    status: str  # allowed | blocked (the verdict does not depend on it: counts decide)
    counts: tuple[tuple[int, ...], ...] = ()
    last_contact: float | None = None
    gaps: tuple[float | None, ...] = ()  # per gap check of the plan, in order


def decision_id(request_id: str, evaluated_at: str, policy: str) -> str:
    return hashlib.sha256(f"{request_id}|{evaluated_at}|{policy}".encode()).hexdigest()[:32]


def skeleton(plan: Plan, decision: str, reasons: list[Reason], retry_at: datetime | None,
             shadow: list[Reason]) -> Decision:
    evaluated_at = _utc_text(plan.now)
    request = plan.request
    return {
        "decision_id": decision_id(request.request_id, evaluated_at, plan.policy_version),
        "request_id": request.request_id,
        "debtor_id": request.debtor_id,
        "decision": decision,
        "reasons": [r.as_dict() for r in reasons],
        "retry_at": format_retry(retry_at),
        "policy": plan.policy_version,
        "evaluated_at": evaluated_at,
        "shadow": [r.as_dict() for r in shadow],  # last: the store may append to it
    }


# a batch's requests share their time: render it once (equal instants render alike)
_utc_text = lru_cache(maxsize=1024)(format_utc)


def counter_reason(check: CounterCheck, plan: Plan, counts: list[int]) -> Reason:
    observed = sum(counts)
    retry = period_end(check, plan, counts)
    return Reason(
        rule=check.rule.name, kind=check.rule.kind,
        message=f"{check.what}: {observed} (limit {check.limit})",
        limit=check.limit, observed=observed,
        retry_at=format_retry(retry), citation=check.rule.citation,
    )


def spacing_reason(rule: Rule, seconds: int, last_contact: float) -> tuple[Reason, datetime]:
    until = shift(from_epoch(last_contact), timedelta(seconds=seconds))
    days = seconds // 86400
    reason = Reason(rule=rule.name, kind=rule.kind,
                    message=f"last contact {format_utc(from_epoch(last_contact))}; at least "
                            f"{days} days must pass", limit=days,
                    retry_at=format_retry(until), citation=rule.citation)
    return reason, until


def gap_reason(gap: GapCheck, since: float) -> tuple[Reason, datetime]:
    until = shift(from_epoch(since), timedelta(seconds=gap.seconds))
    amount = gap.rule.params.get("amount")
    unit = gap.rule.params.get("unit")
    reason = Reason(rule=gap.rule.name, kind=gap.rule.kind,
                    message=f"last {gap.what} {format_utc(from_epoch(since))}; at least "
                            f"{amount} {unit} must pass", limit=amount,
                    retry_at=format_retry(until), citation=gap.rule.citation)
    return reason, until


def decide(plan: Plan, result: StoreResult) -> Decision:
    reasons = list(plan.blocking)
    shadow = list(plan.shadow)
    held: list[Any] = []  # constraints of the reasons found here, besides the plan's
    never = False  # a counter reason no time will lift
    for check, counts in zip(plan.checks, result.counts, strict=True):
        if sum(counts) < check.limit:
            continue
        reason = counter_reason(check, plan, list(counts))
        if check.shadow:
            shadow.append(reason)
            continue
        reasons.append(reason)
        if reason.retry_at is None:
            never = True
        else:
            held.append(NotBefore(_parse(reason.retry_at)))
    now = plan.now.timestamp()  # (a time past its rule's hold by a millisecond or more
    # needs no reason worked out: most requests' last contacts are long past)
    for rule, seconds in plan.spacings:
        if result.last_contact is None:
            break
        if now >= result.last_contact + seconds + MARGIN:
            continue
        reason, until = spacing_reason(rule, seconds, result.last_contact)
        if plan.now < until:
            if rule.shadow:
                shadow.append(reason)
            else:
                reasons.append(reason)
                held.append(NotBefore(until))
    for gap, since in zip(plan.gaps, result.gaps, strict=False):
        if since is None or now >= since + gap.seconds + MARGIN:
            continue
        reason, until = gap_reason(gap, since)
        if plan.now < until:
            if gap.shadow:
                shadow.append(reason)
            else:
                reasons.append(reason)
                held.append(NotBefore(until))
    if not reasons:  # the common path: nothing more to work out
        return skeleton(plan, "allowed", [], None, shadow)
    never = never or any(r.retry_at is None for r in plan.blocking)
    retry = None if never else earliest_common(plan.now, [*plan.constraints, *held])
    return skeleton(plan, "blocked", reasons, retry, shadow)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)
