from __future__ import annotations

import orjson
import pytest

from gatekeeper.errors import InvalidInput
from gatekeeper.validate import parse_event, parse_outcome, parse_request

GOOD = {"request_id": "r-1", "debtor_id": "d-1", "channel": "call",
        "destination": "+12125550100", "requested_at": "2026-03-02T15:00:00Z"}


def bad(**changes: object) -> bytes:
    value = dict(GOOD)
    for key, new in changes.items():
        if new is None:
            value.pop(key)
        else:
            value[key] = new
    return orjson.dumps(value)


def error_of(raw: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_request(raw)
    return caught.value


def test_a_good_request_parses_with_its_fields() -> None:
    request = parse_request(orjson.dumps({**GOOD, "debtor": {"timezone": "Europe/Paris"}}))
    assert request.channel == "call"
    assert request.debtor.timezone == "Europe/Paris"
    assert request.requested_at.isoformat() == "2026-03-02T15:00:00+00:00"
    assert request.purpose == "collection"


@pytest.mark.parametrize(("raw", "field", "expected", "found"), [
    (bad(channel="fax"), "channel", "one of call, sms, email, letter, visit", "fax"),
    (bad(request_id=5), "request_id", "type string", 5),
    (bad(debtor_id=""), "debtor_id", "minLength 1", ""),
    (bad(requested_at="2026-13-01T00:00:00Z"), "requested_at", "format date-time",
     "2026-13-01T00:00:00Z"),
    (bad(requested_at="2026-03-01T10:00:00"), "requested_at", "format date-time",
     "2026-03-01T10:00:00"),
    (bad(debtor={"timezone": "Mars/Olympus"}), "debtor.timezone", "an IANA time zone name",
     "Mars/Olympus"),
    (bad(destination="12345"), "destination", "E.164 number such as +14155550100", "12345"),
    (bad(debtor={"days_past_due": -1}), "debtor.days_past_due", "minimum 0", -1),
])
def test_errors_name_the_field_the_expectation_and_the_value(
        raw: bytes, field: str, expected: str, found: object) -> None:
    error = error_of(raw)
    assert (error.field, error.expected, error.found) == (field, expected, found)
    assert field.split(".")[-1] in error.message


def test_a_missing_field_is_named() -> None:
    error = error_of(bad(destination=None))
    assert "destination" in error.message
    assert error.found == ["channel", "debtor_id", "request_id", "requested_at"]


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe{", b"[1, 2]", b"null", b"{\"a\":", b"42"])
def test_non_objects_and_broken_json_are_invalid(raw: bytes) -> None:
    error = error_of(raw)
    assert error.as_dict()["type"] == "invalid_input"


def test_huge_messages_are_refused_before_parsing() -> None:
    error = error_of(b'{"x": "' + b"a" * 300_000 + b'"}')
    assert "larger than" in error.message


def test_error_rendering_truncates_long_values() -> None:
    error = error_of(bad(channel="x" * 1000))
    assert len(error.as_dict()["found"]) < 250


def test_events_and_outcomes_are_checked_too() -> None:
    event = {"event_id": "e", "debtor_id": "d", "type": "opt_out",
             "occurred_at": "2026-03-01T00:00:00Z"}
    with pytest.raises(InvalidInput, match="channel: required"):
        parse_event(orjson.dumps(event))
    assert parse_event(orjson.dumps({**event, "channel": "sms"})).channel == "sms"
    with pytest.raises(InvalidInput) as caught:
        parse_outcome(orjson.dumps({"request_id": "r", "debtor_id": "d", "outcome": "maybe",
                                    "occurred_at": "2026-03-01T00:00:00Z"}))
    assert caught.value.field == "outcome"


@pytest.mark.parametrize("raw", [
    bad(colour="blue"),
    bad(debtor={"timezone": "UTC", "shoe_size": 44}),
    bad(content={"amount_due": 1, "coupon": "X"}),
])
def test_unknown_fields_are_invalid_input(raw: bytes) -> None:
    error = error_of(raw)
    assert "additional" in error.message or "must not contain" in error.message
