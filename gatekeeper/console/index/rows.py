"""PURE: messages of the record topics -> the rows the decision index keeps.

Each topic message becomes at most one row: a decision (from ``contact.decisions``, or from
``contact.review`` for blocks a worker wrote there), a debtor event, an outcome, or a console
action (a release or an acknowledgement, from the audit topic). A message that cannot be read
becomes nothing and is counted: the index never stops on bad input, the workers already
dead-lettered what breaks the contract.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from gatekeeper.timeutil import parse_rfc3339

FROM_DECISIONS, FROM_REVIEW = 1, 2
ACTIONS = ("release", "acknowledge")


@dataclass(frozen=True, slots=True)
class Message:
    """A Kafka message as the index reads it."""

    kind: str  # a topic kind: decisions | review | events | outcomes | audit
    topic: str
    partition: int
    offset: int
    timestamp: int  # broker time, ms
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(slots=True)  # not frozen: its __init__ is on the ingest's hot path
class DecisionRow:
    ts: int  # evaluated_at, ms
    rid: int  # 63-bit hash of the request id
    request_id: str
    debtor_id: str
    decision_id: str
    decision: str  # allowed | blocked
    via: str
    actor: str | None
    channel: str
    region: str | None  # None: not on the request; the debtor's profile may know it
    rules: tuple[str, ...]  # the blocking rules, "<pack>/<id>"
    source: int  # FROM_DECISIONS | FROM_REVIEW
    body: bytes
    releases: str | None  # an override: the request id it released


@dataclass(frozen=True, slots=True)
class EventRow:
    ts: int
    debtor_id: str
    type: str
    region: str | None
    timezone: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    ts: int
    debtor_id: str
    request_id: str
    outcome: str
    body: bytes


@dataclass(frozen=True, slots=True)
class ActionRow:
    ts: int
    seq: int
    action: str  # release | acknowledge
    actor: str
    request_id: str
    debtor_id: str
    reason: str
    body: bytes


Row = DecisionRow | EventRow | OutcomeRow | ActionRow


def request_hash(request_id: str) -> int:
    """A 63-bit hash of a request id: the index looks requests up by it (an integer index is
    a fraction of the size of a text one), then compares the id itself."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def pack_of(rule: str) -> str:
    return rule.partition("/")[0]


def to_row(message: Message) -> Row | None:
    """The row a message becomes, or None when it is not one the index keeps (unreadable,
    or an audit record that is not an action on a decision)."""
    if not message.value:
        return None
    try:
        body = orjson.loads(message.value)
        if not isinstance(body, dict):
            return None
        if message.kind in ("decisions", "review"):
            return _decision(message, body)
        if message.kind == "events":
            return _event(message, body)
        if message.kind == "outcomes":
            return _outcome(message, body)
        if message.kind == "audit":
            return _action(message, body)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
    return None


_HOURS: dict[str, int] = {}  # "2026-12-01T13" -> its epoch ms (the fast path's cache)


def _ms(text: Any, fallback: int) -> int:
    """An RFC 3339 time as epoch ms (the broker's time when it cannot be read)."""
    if not isinstance(text, str):
        return fallback
    # the workers write 2026-12-01T13:00:00Z or 2026-12-01T13:00:00.123Z: the hour's start
    # from a cache, minutes, seconds and milliseconds by hand (datetime is 3 times slower)
    size = len(text)
    if (size == 20 or (size == 24 and text[19] == ".")) and text[-1] == "Z" and \
            text[13] == ":" and text[16] == ":" and text[14:16].isdigit() and \
            text[17:19].isdigit() and text[14] < "6" and text[17] < "6" and \
            (size == 20 or text[20:23].isdigit()):
        hour = _HOURS.get(text[:13])
        if hour is None:
            hour = _ms(text[:13] + ":00:00+00:00", -1)
            if hour == -1:
                return fallback
            if len(_HOURS) > 100_000:
                _HOURS.clear()
            _HOURS[text[:13]] = hour
        return hour + int(text[14:16]) * 60_000 + int(text[17:19]) * 1000 + \
            (int(text[20:23]) if size == 24 else 0)
    try:
        value = datetime.fromisoformat(text)  # the workers write UTC with "Z": the fast path
        if value.tzinfo is None:
            return fallback
        return int(value.timestamp() * 1000)
    except ValueError:
        try:
            return int(parse_rfc3339(text).timestamp() * 1000)
        except (ValueError, OverflowError):
            return fallback
    except OverflowError:
        return fallback


def _decision(message: Message, body: dict[str, Any]) -> DecisionRow | None:
    request, decision = body["request"], body["decision"]
    word = decision["decision"]
    if word != "allowed" and word != "blocked":  # noqa: PLR1714 - the hot path
        return None
    debtor = request.get("debtor")
    region = debtor.get("region") if debtor.__class__ is dict else None
    request_id = decision.get("request_id") or request["request_id"]
    rules = tuple([r["rule"] for r in decision["reasons"]]) if word == "blocked" else ()
    actor = body.get("actor")
    releases = body.get("releases")
    return DecisionRow(
        ts=_ms(decision.get("evaluated_at"), message.timestamp),
        rid=request_hash(request_id),
        request_id=str(request_id),
        debtor_id=str(decision.get("debtor_id") or request["debtor_id"]),
        decision_id=str(decision.get("decision_id") or ""),
        decision=word,
        via=str(body.get("via") or "stream"),
        actor=str(actor) if actor else None,
        channel=str(request.get("channel") or ""),
        region=str(region) if region else None,
        rules=rules,
        source=FROM_DECISIONS if message.kind == "decisions" else FROM_REVIEW,
        body=message.value or b"",
        releases=str(releases) if releases else None,
    )


def _event(message: Message, body: dict[str, Any]) -> EventRow:
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    profile = body["type"] == "profile"
    return EventRow(
        ts=_ms(body.get("occurred_at"), message.timestamp),
        debtor_id=str(body["debtor_id"]),
        type=str(body["type"]),
        region=str(data["region"]) if profile and data and data.get("region") else None,
        timezone=str(data["timezone"]) if profile and data and data.get("timezone") else None,
        body=message.value or b"",
    )


def _outcome(message: Message, body: dict[str, Any]) -> OutcomeRow:
    return OutcomeRow(
        ts=_ms(body.get("occurred_at"), message.timestamp),
        debtor_id=str(body["debtor_id"]),
        request_id=str(body["request_id"]),
        outcome=str(body["outcome"]),
        body=message.value or b"",
    )


def _action(message: Message, body: dict[str, Any]) -> ActionRow | None:
    if body.get("action") not in ACTIONS:
        return None
    details = body.get("details") or {}
    return ActionRow(
        ts=_ms(body.get("at"), message.timestamp),
        seq=int(body["seq"]),
        action=str(body["action"]),
        actor=str(body["actor"]),
        request_id=str(details["request_id"]),
        debtor_id=str(details["debtor_id"]),
        reason=str(details.get("reason") or ""),
        body=message.value or b"",
    )
