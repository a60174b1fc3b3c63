from __future__ import annotations

import orjson

from gatekeeper.errors import InvalidInput
from gatekeeper.signing import verify
from gatekeeper.stream import routing
from gatekeeper.stream.routing import MAX_RAW, Incoming

DECISION = {"decision_id": "dec-1", "request_id": "r-1", "debtor_id": "d-1",
            "policy": "default@abc", "evaluated_at": "2026-03-02T17:00:00Z",
            "decision": "allowed"}


def test_allowed_keeps_the_bytes_and_signs_them() -> None:
    message = Incoming(b"d-1", b'{"request_id": "r-1"}', "contact.requests", 0, 7)
    out = routing.allowed(message, DECISION, b"key")
    headers = dict(out.headers)
    assert out.value == message.value and out.key == b"d-1"
    assert headers["gk-decision-id"] == b"dec-1" and headers["gk-policy"] == b"default@abc"
    assert verify([b"key"], headers["gk-signature"].decode(), "r-1", "dec-1", "default@abc",
                  message.value)


def test_a_missing_key_becomes_the_debtor_id() -> None:
    out = routing.review(Incoming(None, b"{}", "t", 0, 0), {"request_id": "r-1"}, DECISION)
    assert out.key == b"d-1"
    assert orjson.loads(out.value)["decision"]["decision_id"] == "dec-1"


def test_dead_letters_carry_error_raw_and_source() -> None:
    message = Incoming(b"k", b"\xffnot json", "contact.requests", 3, 42)
    body = orjson.loads(routing.invalid(message, InvalidInput("bad", field="x")).value)
    assert body["source"] == {"topic": "contact.requests", "partition": 3, "offset": 42}
    assert body["raw"].endswith("not json") and body["error"]["field"] == "x"
    assert "raw_truncated" not in body


def test_huge_dead_letters_are_cut_so_they_always_fit() -> None:
    message = Incoming(b"k", b"x" * 2_000_000, "contact.requests", 0, 1)
    out = routing.invalid(message, InvalidInput("too large"))
    body = orjson.loads(out.value)
    assert len(out.value) < MAX_RAW + 1000
    assert body["raw_truncated"] is True and body["raw_bytes"] == 2_000_000


def test_records_say_which_path_and_who_asked_and_carry_the_store_record() -> None:
    message = Incoming(None, b"{}", "http", -1, -1)
    stream = routing.record(message, {"request_id": "r-1"}, DECISION, "a 1.000 h - - -")
    http = routing.record(message, {"request_id": "r-1"}, DECISION, "a 1.000 h - - -",
                          via="http", source="dialer-7")
    assert orjson.loads(stream.value)["via"] == "stream" and "source" not in orjson.loads(
        stream.value)
    body = orjson.loads(http.value)
    assert body["via"] == "http" and body["source"] == "dialer-7"
    assert http.kind == "decisions" and http.key == b"d-1"
    assert dict(http.headers)["gk-record"] == b"a 1.000 h - - -"
