"""PURE: a message and its fate -> the output message (topic kind, key, value, headers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gatekeeper.errors import InvalidInput
from gatekeeper.signing import sign


@dataclass(frozen=True, slots=True)
class Incoming:
    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Outgoing:
    kind: str  # allowed | review | invalid
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def allowed(message: Incoming, decision: dict[str, Any], signing_key: bytes | None) -> Outgoing:
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
    return Outgoing("allowed", _key(message, decision), value, tuple(headers))


def review(message: Incoming, request: dict[str, Any], decision: dict[str, Any]) -> Outgoing:
    value = orjson.dumps({"request": request, "decision": decision})
    return Outgoing("review", _key(message, decision), value)


def invalid(message: Incoming, error: InvalidInput) -> Outgoing:
    raw = message.value.decode("utf-8", "replace") if message.value is not None else None
    value = orjson.dumps({
        "error": error.as_dict(),
        "raw": raw,
        "source": {"topic": message.topic, "partition": message.partition,
                   "offset": message.offset},
    })
    return Outgoing("invalid", message.key, value)


def _key(message: Incoming, decision: dict[str, Any]) -> bytes:
    return message.key if message.key is not None else decision["debtor_id"].encode()
