"""PURE: a message and its fate -> the output message (topic kind, key, value, headers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from gatekeeper.errors import InvalidInput
from gatekeeper.model import Decision
from gatekeeper.signing import sign

MAX_RAW = 64 * 1024


@dataclass(frozen=True, slots=True)
class Incoming:
    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Outgoing:
    kind: str  # a topic's kind (settings.Topic): allowed | review | invalid | decisions ...
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    # what was decided, for metrics (never parsed back from ``value``); not sent
    decision: Decision | None = field(default=None, compare=False)
    channel: str = field(default="", compare=False)


def allowed(message: Incoming, decision: Decision, signing_key: bytes | None) -> Outgoing:
    """The original bytes, unchanged, with the decision in headers."""
    value = message.value or b""
    headers = [
        ("gk-decision-id", decision["decision_id"].encode()),
        ("gk-policy", decision["policy"].encode()),
        ("gk-evaluated-at", decision["evaluated_at"].encode()),
    ]
    if signing_key:
        signature = sign(signing_key, decision["request_id"], decision["decision_id"],
                         decision["policy"], value)
        headers.append(("gk-signature", signature.encode()))
    return Outgoing("allowed", _key(message, decision), value, tuple(headers), decision)


def review(message: Incoming, request: dict[str, Any], decision: Decision) -> Outgoing:
    value = orjson.dumps({"request": request, "decision": decision})
    return Outgoing("review", _key(message, decision), value, (), decision,
                    str(request.get("channel", "")))


def record(message: Incoming, request: dict[str, Any], decision: Decision,
           stored: str | None, via: str = "stream", source: str | None = None) -> Outgoing:
    """The audit record on contact.decisions: every decision of every path. ``stored`` is
    the decision record the store keeps (header ``gk-record``): a rebuild puts it back.
    ``source``: who asked, when the path knows it (the HTTP API: the API key's name)."""
    body: dict[str, Any] = {"request": request, "decision": decision, "via": via}
    if source is not None:
        body["source"] = source
    value = orjson.dumps(body)
    headers = (("gk-record", stored.encode()),) if stored else ()
    return Outgoing("decisions", _key(message, decision), value, headers)


def invalid(message: Incoming, error: InvalidInput) -> Outgoing:
    """The dead letter. A raw value over MAX_RAW bytes is cut there (``raw_truncated`` and
    ``raw_bytes`` say so): the full message is still at ``source`` on the input topic, and
    a dead letter must always fit in a Kafka message."""
    body: dict[str, object] = {"error": error.as_dict(), "raw": None}
    if message.value is not None:
        body["raw"] = message.value[:MAX_RAW].decode("utf-8", "replace")
        if len(message.value) > MAX_RAW:
            body["raw_truncated"] = True
            body["raw_bytes"] = len(message.value)
    body["source"] = {"topic": message.topic, "partition": message.partition,
                      "offset": message.offset}
    value = orjson.dumps(body)
    return Outgoing("invalid", message.key, value)


def message_key(message: Incoming, decision: Decision) -> bytes:
    """The key of an output: the input's, or the debtor id when it had none."""
    return message.key if message.key is not None else decision["debtor_id"].encode()


_key = message_key
