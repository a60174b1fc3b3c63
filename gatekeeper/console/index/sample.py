"""Synthetic record traffic for the index's tests and benchmark: the messages a worker
writes (``contact.decisions``, blocks also on ``contact.review``), with debtor events and
outcomes, spread over a time range, for a given number of debtors. Deterministic by seed."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from gatekeeper.console.index.rows import Message
from gatekeeper.timeutil import format_utc, from_epoch

RULES = (
    ("default/quiet-hours", "outside the allowed hours in {zone}", "gatekeeper baseline R3"),
    ("default/calls-per-day-per-number", "calls to this destination today: 1 (limit 1)",
     "gatekeeper baseline R1"),
    ("default/letters-per-month", "letters this month: 2 (limit 2)", "gatekeeper baseline R2"),
    ("default/opt-outs", "the debtor opted out of this channel", "gatekeeper baseline R7"),
    ("us-reg-f/calls-7-in-7", "7 calls about debt D1 in the last 7 days (limit 7)",
     "12 CFR 1006.14(b)(2)(i)(A)"),
    ("us-reg-f/hours", "outside 08:00-21:00 in {zone}", "12 CFR 1006.6(b)(1)(i)"),
    ("ca-on/hours", "outside the allowed hours in {zone}", "Collection Act, O. Reg. 74/05"),
    ("uk-conc/reasonable-times", "outside reasonable times in {zone}", "CONC 7.9.4R"),
)
REGIONS = (("US-NY", "America/New_York"), ("US-CA", "America/Los_Angeles"),
           ("US-MA", "America/New_York"), ("CA-ON", "America/Toronto"),
           ("GB", "Europe/London"), ("US-TX", "America/Chicago"), ("CN", "Asia/Shanghai"))
CHANNELS = ("call", "call", "call", "sms", "email", "letter", "visit")
OUTCOMES = ("no_answer", "voicemail", "conversation", "delivered", "not_connected")


@dataclass
class Topics:
    decisions: str = "contact.decisions"
    review: str = "contact.review"
    events: str = "debtor.events"
    outcomes: str = "contact.outcomes"


def decision_message(request_id: str, debtor_id: str, when_ms: int, *, blocked: bool,
                     channel: str = "call", region: str | None = "US-NY",
                     zone: str = "America/New_York", rules: tuple[int, ...] = (0,),
                     via: str = "stream", actor: str | None = None) -> dict[str, object]:
    """A ``contact.decisions`` value as the worker writes it."""
    at = format_utc(from_epoch(when_ms / 1000))
    request: dict[str, object] = {
        "request_id": request_id, "debtor_id": debtor_id, "channel": channel,
        "destination": "+12125550100" if channel in ("call", "sms") else
        "d@example.com" if channel == "email" else "ADDR-1", "requested_at": at}
    if region:
        request["debtor"] = {"region": region, "timezone": zone}
    reasons = [{"rule": RULES[i][0], "kind": "limit" if "per" in RULES[i][0] else "hours",
                "message": RULES[i][1].format(zone=zone), "limit": None, "observed": None,
                "retry_at": format_utc(from_epoch(when_ms / 1000 + 36000)),
                "citation": RULES[i][2]} for i in rules] if blocked else []
    decision_id = hashlib.blake2b(f"{request_id}/{when_ms}".encode(), digest_size=16).hexdigest()
    decision = {"decision_id": decision_id,
                "request_id": request_id, "debtor_id": debtor_id,
                "decision": "blocked" if blocked else "allowed", "reasons": reasons,
                "retry_at": reasons[0]["retry_at"] if reasons else None,
                "policy": "default+us-reg-f@0123456789ab", "evaluated_at": at, "shadow": []}
    body: dict[str, object] = {"request": request, "decision": decision, "via": via}
    if actor:
        body["actor"] = actor
    return body


def traffic(decisions: int, *, debtors: int, start_ms: int, end_ms: int, seed: int = 7,
            blocked_share: float = 0.45, topics: Topics | None = None,
            events_per_decision: float = 0.1, outcomes_per_decision: float = 0.3,
            prefix: str = "R", first: int = 0, count: int | None = None
            ) -> Iterator[Message]:
    """Messages in time order: each decision on contact.decisions (a block also on
    contact.review), with events and outcomes mixed in. ``first`` and ``count`` make a part
    of the traffic (decisions ``first`` to ``first + count`` of ``decisions``; its offsets
    start at 0): parts are generated apart, in parallel (the benchmark's)."""
    names = topics or Topics()
    rng = random.Random(seed if first == 0 else f"{seed}/{first}")
    step = (end_ms - start_ms) / max(decisions, 1)
    offsets = {"decisions": 0, "review": 0, "events": 0, "outcomes": 0}

    def message(kind: str, debtor: str, when: int, value: dict[str, object]) -> Message:
        offset = offsets[kind]
        offsets[kind] += 1
        return Message(kind, getattr(names, kind), 0, offset, when, debtor.encode(),
                       orjson.dumps(value))

    for n in range(first, decisions if count is None else min(first + count, decisions)):
        when = int(start_ms + n * step)
        debtor = f"D{rng.randrange(debtors):07d}"
        region, zone = REGIONS[rng.randrange(len(REGIONS))]
        channel = CHANNELS[rng.randrange(len(CHANNELS))]
        blocked = rng.random() < blocked_share
        rules = tuple(sorted({rng.randrange(len(RULES)) for _ in range(rng.choice((1, 1, 2)))}))
        value = decision_message(f"{prefix}{n:09d}", debtor, when, blocked=blocked, channel=channel,
                                 region=region if rng.random() < 0.8 else None, zone=zone,
                                 rules=rules)
        yield message("decisions", debtor, when, value)
        if blocked:
            review = {"request": value["request"], "decision": value["decision"]}
            yield message("review", debtor, when, review)
        if rng.random() < events_per_decision:
            kind = rng.choice(("profile", "opt_out", "hardship", "conversation"))
            data = {"region": region, "timezone": zone} if kind == "profile" else {}
            yield message("events", debtor, when, {
                "event_id": f"E{n:09d}", "debtor_id": debtor, "type": kind,
                "occurred_at": format_utc(from_epoch(when / 1000)), "data": data})
        if not blocked and rng.random() < outcomes_per_decision / (1 - blocked_share):
            yield message("outcomes", debtor, when + 60000, {
                "request_id": f"{prefix}{n:09d}", "debtor_id": debtor,
                "outcome": OUTCOMES[rng.randrange(len(OUTCOMES))],
                "occurred_at": format_utc(from_epoch(when / 1000 + 60))})
