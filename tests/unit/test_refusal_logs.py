"""aiokafka's refusal lines (one per fetch, one per commit while an ACL is missing) pass once
a minute per topic; its other lines pass untouched."""

from __future__ import annotations

import logging

import pytest

from gatekeeper.stream import refusal_logs


def test_aiokafkas_refusal_lines_pass_once_a_minute_per_topic(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(refusal_logs.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(refusal_logs, "_said", {})
    only = refusal_logs.OnceAMinute("Not authorized to read from topic")

    def passes(message: str, *args: object) -> bool:
        return only.filter(logging.LogRecord("aiokafka.consumer.fetcher", logging.WARNING,
                                             __file__, 1, message, args, None))

    line = "Not authorized to read from topic %s."
    assert passes(line, "t.events")
    now[0] += 1
    assert not passes(line, "t.events")
    assert passes(line, "t.requests")  # another topic: its own minute
    assert passes("Fetch offset %s is out of range", 3)  # other lines: untouched
    now[0] += 60
    assert passes(line, "t.events")


def test_install_puts_one_filter_on_each_logger() -> None:
    refusal_logs.install()
    refusal_logs.install()
    for name in refusal_logs.LINES:
        filters = [f for f in logging.getLogger(name).filters
                   if isinstance(f, refusal_logs.OnceAMinute)]
        assert len(filters) == 1
