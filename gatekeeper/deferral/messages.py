"""PURE: the messages of deferral.

* ``contact.deferred`` (key: the debtor) carries two kinds of message:
  a parking announcement ``{"request", "decision" (the blocked one), "deferred_until",
  "attempt", "deferred_from" (the first decision's id), "original" (the request's bytes as
  text), "partition" and "offset" (where it was read on the request topic: its schedule,
  and its place in it)}``, and a cancel record
  ``{"cancel": <request id>, "debtor_id", "found": cancelled | sending | unknown |
  released | reviewed, "at"}``. The schedule is rebuilt from them.
* ``contact.decisions``: a parking decision is recorded as the stream records any decision
  (``"via": "stream"``) with ``"deferred_until"``; a release attempt as ``"via": "deferral"``
  under its own request id (``attempt_id``), with ``"defers"`` (the original request id),
  ``"attempt"`` and ``"fate"`` (released | parked | reviewed), so that a rebuild of Redis
  restores each attempt's record and counts, and the schedule.
* ``contact.allowed``: the original bytes, signed as the stream signs, plus
  ``gk-deferred-from``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson

from gatekeeper.counters.schedule_wire import Entry
from gatekeeper.model import Decision
from gatekeeper.stream import routing
from gatekeeper.stream.routing import Incoming, Outgoing
from gatekeeper.timeutil import format_utc

MAX_ID = 128
CANCEL_MARK = b'"cancel"'


def attempt_id(request_id: str, attempt: int) -> str:
    """The id release attempt ``attempt`` is decided and recorded under (the gate is
    idempotent by request id: each attempt needs its own; within the contract's 128)."""
    suffix = f"~defer{attempt}"
    if len(request_id) + len(suffix) <= MAX_ID:
        return request_id + suffix
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:16]
    return f"{request_id[:MAX_ID - len(suffix) - 17]}-{digest}{suffix}"


def announcement(message: Incoming, request: dict[str, Any], decision: Decision,
                 until: datetime, attempt: int, entry: Entry) -> Outgoing:
    body = {"request": request, "decision": decision, "deferred_until": format_utc(until),
            "attempt": attempt, "deferred_from": entry.first_decision_id,
            "original": entry.value.decode(), "partition": message.partition,
            "offset": entry.offset}
    return Outgoing("deferred", routing.message_key(message, decision), orjson.dumps(body),
                    (), decision, str(request.get("channel", "")))


def parking_record(message: Incoming, request: dict[str, Any], decision: Decision,
                   stored: str | None, until: datetime) -> Outgoing:
    out = routing.record(message, request, decision, stored)
    body = orjson.loads(out.value)
    body["deferred_until"] = format_utc(until)
    return Outgoing(out.kind, out.key, orjson.dumps(body), out.headers)


def attempt_record(message: Incoming, request: dict[str, Any], decision: Decision,
                   stored: str | None, defers: str, attempt: int, fate: str) -> Outgoing:
    out = routing.record(message, request, decision, stored, via="deferral")
    body = orjson.loads(out.value)
    body.update({"defers": defers, "attempt": attempt, "fate": fate})
    return Outgoing(out.kind, out.key, orjson.dumps(body), out.headers)


def released(message: Incoming, decision: Decision, original_id: str, first_decision_id: str,
             signing_key: bytes | None) -> Outgoing:
    """The original bytes to contact.allowed, signed over the payload's own request id (as
    carriers check it), with ``gk-deferred-from``."""
    out = routing.allowed(message, {**decision, "request_id": original_id}, signing_key)
    headers = (*out.headers, ("gk-deferred-from", first_decision_id.encode()))
    return Outgoing(out.kind, out.key, out.value, headers, decision, out.channel)


def cancel_record(message: Incoming, request_id: str, debtor_id: str, found: str,
                  now: datetime) -> Outgoing:
    body = {"cancel": request_id, "debtor_id": debtor_id, "found": found,
            "at": format_utc(now)}
    key = message.key if message.key is not None else debtor_id.encode()
    return Outgoing("deferred", key, orjson.dumps(body))


def looks_like_cancel(value: bytes | None) -> bool:
    """A cheap test before parsing: every cancel names ``"cancel"`` (a request that happens
    to contain the word is then parsed as a request, as always)."""
    return value is not None and CANCEL_MARK in value
