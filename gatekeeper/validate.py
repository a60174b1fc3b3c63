"""Bytes -> typed record, or InvalidInput naming the field, the expectation and the value.

The JSON Schemas in ``schemas/`` are the source of truth; they are compiled once. Checks
that JSON Schema cannot express (a real IANA zone, a parseable timestamp, an E.164 number)
follow the schema check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any
from zoneinfo import available_timezones

import fastjsonschema
import orjson

from gatekeeper.errors import InvalidInput, UndecodableInput
from gatekeeper.model import (
    ContactCancel,
    ContactOutcome,
    ContactRequest,
    DebtorEvent,
    DebtorProfile,
)
from gatekeeper.paths import SCHEMAS
from gatekeeper.timeutil import parse_rfc3339

MAX_MESSAGE_BYTES = 256 * 1024
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@cache
def _validator(name: str) -> Callable[[Any], Any]:
    schema = orjson.loads((SCHEMAS / f"{name}.schema.json").read_bytes())
    validator: Callable[[Any], Any] = fastjsonschema.compile(schema)
    return validator


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def decode(raw: bytes | str | None) -> dict[str, Any]:
    """Parse one message value as a JSON object."""
    if raw is None:
        raise UndecodableInput("message has no value", field="", expected="a JSON object",
                               found=None)
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise UndecodableInput(
            f"message is {len(raw)} bytes, larger than {MAX_MESSAGE_BYTES}",
            expected=f"at most {MAX_MESSAGE_BYTES} bytes", found=len(raw),
        )
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UndecodableInput(f"not valid JSON: {exc}", expected="a UTF-8 JSON object",
                           found=raw[:80].decode("utf-8", "replace")) from None
    if not isinstance(value, dict):
        raise UndecodableInput("message is not a JSON object", expected="a JSON object",
                           found=type(value).__name__)
    return value


def _check_schema(name: str, value: dict[str, Any]) -> None:
    try:
        _validator(name)(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        field = exc.path[1:] if exc.path and exc.path[0] == "data" else exc.path
        dotted = ".".join(str(p) for p in (field or []))
        expected = _expectation(exc)
        message = exc.message
        message = "message" + message[4:] if message.startswith("data ") else message[5:]
        found = sorted(exc.value) if exc.rule == "required" else exc.value
        raise InvalidInput(message, field=dotted, expected=expected, found=found) from None


def _expectation(exc: fastjsonschema.JsonSchemaValueException) -> str:
    rule, definition = exc.rule, exc.rule_definition
    if rule == "required":
        return f"properties {definition}"
    if rule == "enum":
        return "one of " + ", ".join(map(str, definition))
    if rule == "type":
        return f"type {definition}"
    return f"{rule} {definition}"


def _timestamp(value: dict[str, Any], key: str, path: str) -> Any:
    text = value.get(key)
    if text is None:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise InvalidInput(f"{path}: not an RFC 3339 timestamp with offset", field=path,
                           expected="RFC 3339 timestamp with offset", found=text) from None


def _zone(name: str | None, path: str) -> None:
    if name is not None and name not in _zones():
        raise InvalidInput(f"{path}: unknown IANA time zone", field=path,
                           expected="an IANA time zone name", found=name)


def _profile(data: dict[str, Any] | None, path: str) -> DebtorProfile:
    if not data:
        return DebtorProfile()
    _zone(data.get("timezone"), f"{path}.timezone")
    return DebtorProfile(
        region=data.get("region"),
        timezone=data.get("timezone"),
        postal_code=data.get("postal_code"),
        days_past_due=data.get("days_past_due"),
        hardship=data.get("hardship"),
    )


def _destination(channel: str, destination: str, path: str) -> None:
    if channel in ("call", "sms") and not E164.match(destination):
        raise InvalidInput(f"{path}: a {channel} needs an E.164 phone number", field=path,
                           expected="E.164 number such as +14155550100", found=destination)
    if channel == "email" and not EMAIL.match(destination):
        raise InvalidInput(f"{path}: not an email address", field=path,
                           expected="an email address", found=destination)


def request_from_dict(value: dict[str, Any]) -> ContactRequest:
    _check_schema("contact_request", value)
    requested_at = _timestamp(value, "requested_at", "requested_at")
    not_after = _timestamp(value, "not_after", "not_after")
    _destination(value["channel"], value["destination"], "destination")
    content = value.get("content")
    if content and "due_date" in content:
        try:
            date.fromisoformat(content["due_date"])
        except ValueError:
            raise InvalidInput("content.due_date: not a date", field="content.due_date",
                               expected="YYYY-MM-DD", found=content["due_date"]) from None
    return ContactRequest(
        request_id=value["request_id"],
        debtor_id=value["debtor_id"],
        channel=value["channel"],
        destination=value["destination"],
        requested_at=requested_at,
        debt_id=value.get("debt_id"),
        creditor_id=value.get("creditor_id"),
        collector_id=value.get("collector_id"),
        destination_kind=value.get("destination_kind"),
        debtor=_profile(value.get("debtor"), "debtor"),
        purpose=value.get("purpose", "collection"),
        content=content,
        not_after=not_after,
        source=value.get("source"),
        raw=value,
        on_block=value.get("on_block", "review"),
    )


def event_from_dict(value: dict[str, Any]) -> DebtorEvent:
    _check_schema("debtor_event", value)
    occurred_at = _timestamp(value, "occurred_at", "occurred_at")
    data = value.get("data") or {}
    _zone(data.get("timezone"), "data.timezone")
    if "until" in data:
        _timestamp(data, "until", "data.until")
    if value["type"] in ("opt_out", "opt_in") and "channel" not in value:
        raise InvalidInput(f"channel: required for a {value['type']} event", field="channel",
                           expected="one of call, sms, email, letter, visit", found=None)
    if value["type"] == "notice_sent" and "notice" not in data:
        raise InvalidInput("data.notice: required for a notice_sent event", field="data.notice",
                           expected="the notice's name, as a notice_wait rule names it",
                           found=None)
    if "destination" in value and "channel" in value:
        _destination(value["channel"], value["destination"], "destination")
    return DebtorEvent(
        event_id=value["event_id"],
        debtor_id=value["debtor_id"],
        type=value["type"],
        occurred_at=occurred_at,
        debt_id=value.get("debt_id"),
        channel=value.get("channel"),
        destination=value.get("destination"),
        data=data,
    )


def outcome_from_dict(value: dict[str, Any]) -> ContactOutcome:
    _check_schema("contact_outcome", value)
    return ContactOutcome(
        request_id=value["request_id"],
        debtor_id=value["debtor_id"],
        outcome=value["outcome"],
        occurred_at=_timestamp(value, "occurred_at", "occurred_at"),
        debt_ids=tuple(value.get("debt_ids") or ()),
    )


def parse_request(raw: bytes | str) -> ContactRequest:
    return request_from_dict(decode(raw))


def parse_event(raw: bytes | str) -> DebtorEvent:
    return event_from_dict(decode(raw))


def parse_outcome(raw: bytes | str) -> ContactOutcome:
    return outcome_from_dict(decode(raw))


def cancel_from_dict(value: dict[str, Any]) -> tuple[str, str]:
    """A cancel of a parked request (schemas/contact_cancel.schema.json): its request id and
    debtor id."""
    cancel = contact_cancel_from_dict(value)
    return cancel.request_id, cancel.debtor_id


def contact_cancel_from_dict(value: dict[str, Any]) -> ContactCancel:
    """A cancel of a parked request, with its ``requested_at`` when it has one."""
    _check_schema("contact_cancel", value)
    at = _timestamp(value, "requested_at", "requested_at") if "requested_at" in value else None
    return ContactCancel(str(value["cancel"]), str(value["debtor_id"]), at)
