"""The rows of ``review tail`` and ``invalid tail``: every column under its header."""

from __future__ import annotations

import orjson

from gatekeeper.tail import INVALID_HEADER, REVIEW_HEADER, invalid_row, review_row


def test_review_columns_line_up_with_millisecond_times() -> None:
    value = orjson.dumps({
        "request": {"debtor_id": "D00374", "channel": "call"},
        "decision": {"evaluated_at": "2026-11-28T12:33:22.864Z",
                     "retry_at": "2026-11-29T08:00:00Z",
                     "reasons": [{"rule": "default/calls-per-day-per-number",
                                  "message": "calls to this destination today: 1 (limit 1)"}]}})
    row = review_row(value)
    for name, text in (("debtor", "D00374"), ("channel", "call"),
                       ("rule", "default/calls-per-day-per-number"),
                       ("message", "calls to this destination"),
                       ("retry_at", "2026-11-29T08:00:00Z")):
        assert row.index(text) == REVIEW_HEADER.index(name), (name, row, REVIEW_HEADER)
    assert row.startswith("2026-11-28T12:33:22.864Z ")


def test_further_reasons_are_counted_inside_the_message_column() -> None:
    reason = {"rule": "default/quiet-hours", "message": "outside the allowed hours in "
              "Asia/Kolkata, Asia/Shanghai, Australia/Sydney"}
    value = orjson.dumps({"request": {"debtor_id": "D1", "channel": "sms"},
                          "decision": {"evaluated_at": "2026-11-28T16:59:56.443Z",
                                       "retry_at": "2026-11-29T02:30:00Z",
                                       "reasons": [reason, reason]}})
    row = review_row(value)
    assert row.index("2026-11-29T02:30:00Z") == REVIEW_HEADER.index("retry_at")
    assert "(+1) 2026-11-29T02:30:00Z" in row


def test_a_dead_letter_row_names_source_field_message_and_raw() -> None:
    value = orjson.dumps({
        "error": {"type": "invalid_input", "message": "channel must be one of [...]",
                  "field": "channel", "expected": "one of call, sms", "found": "fax"},
        "raw": '{"channel": "fax",\n "x": 1}',
        "source": {"topic": "contact.requests", "partition": 2, "offset": 1234}})
    row = invalid_row(value, 1_764_333_202_864)
    assert row.startswith("2025-11-28T12:33:22.864Z ")
    for name, text in (("source", "contact.requests[2]@1234"), ("field", "channel"),
                       ("message", "channel must be one of"), ("raw", '{"channel": "fax",\\n')):
        assert row.index(text) == INVALID_HEADER.index(name), (name, row, INVALID_HEADER)
    assert "\n" not in row


def test_a_dead_letter_without_raw_value_or_field_shows_dashes() -> None:
    value = orjson.dumps({"error": {"message": "message has no value", "field": ""},
                          "raw": None, "source": {"topic": "t", "partition": 0, "offset": 1}})
    row = invalid_row(value, None)
    assert row.split()[:2] == ["t[0]@1", "-"] and row.endswith(" -")


def test_a_long_topic_name_is_cut_at_its_start_keeping_partition_and_offset() -> None:
    topic = "tenant-with-a-long-name.staging.contact.requests"
    value = orjson.dumps({"error": {"message": "m", "field": "channel"}, "raw": "x",
                          "source": {"topic": topic, "partition": 11, "offset": 123456789}})
    row = invalid_row(value, None)
    source = row[INVALID_HEADER.index("source"):INVALID_HEADER.index("field")].strip()
    assert source.startswith("~") and source.endswith("contact.requests[11]@123456789")
    assert row.index("channel") == INVALID_HEADER.index("field")
