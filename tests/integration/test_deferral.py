"""Deferral through real Kafka and Redis: requests blocked by a window that opens about a
minute after the test starts are parked (announced on contact.deferred), then forwarded at
the opening, never before, once each, as the original bytes with ``gk-deferred-from``; a
cancelled one is never sent, one opted out meanwhile goes to review. The release lag
(forwarded - deferred_until) is printed: the benchmark figure, not an assertion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from test_worker import produce
from worker_process import WorkerProcess, worker_env

from gatekeeper.signing import verify
from gatekeeper.timeutil import parse_rfc3339

pytestmark = pytest.mark.timeout(240)  # the window opens about a minute in
KEY = "deferral-signing-key"
TOPICS = ("contact.requests", "debtor.events", "contact.outcomes", "contact.allowed",
          "contact.review", "contact.invalid", "contact.decisions", "contact.deferred")
PARKED = 24  # parked requests: one is cancelled, one opted out meanwhile


def zone_offset(now: datetime) -> int:
    """Hours east of UTC of a zone where it is late morning now (no window wraps)."""
    offset = (10 - now.hour) % 24
    return offset - 24 if offset > 14 else offset


def local_zone(now: datetime, lead: int = 45) -> tuple[str, datetime]:
    """That zone, and the window's opening: the next whole minute at least ``lead`` s away."""
    offset = zone_offset(now)
    opening = (now + timedelta(seconds=lead + 59)).replace(second=0, microsecond=0)
    zone = f"Etc/GMT{-offset:+d}" if offset else "UTC"  # (Etc/GMT-3 is UTC+3)
    return zone, opening


def pack(opening: datetime, offset_hours: int) -> str:
    start = opening + timedelta(hours=offset_hours)
    end = start + timedelta(hours=2)
    return f"""
pack: deferral
title: a window that opens during the test
applies_to: ["*"]
rules:
  - id: window
    kind: hours
    citation: test
    channels: [visit]  # (an address has no time zone of its own: the declared one rules)
    windows:
      daily: ["{start:%H:%M}-{end:%H:%M}"]
  - id: opt-outs
    kind: opt_out
    citation: test
"""


@pytest.fixture
def setup(tmp_path: Path, topic_prefix: str, app_id: str, redis_url: str, stack: object
          ) -> Iterator[tuple[WorkerProcess, str, datetime]]:
    now = datetime.now(UTC)
    zone, opening = local_zone(now)
    policy = tmp_path / "window.yaml"
    policy.write_text(pack(opening, zone_offset(now)))
    env = worker_env(stack.broker_url, redis_url, topic_prefix, app_id,  # type: ignore[attr-defined]
                     policy, KEY, partitions="2", defer_release_rate="200")
    worker = WorkerProcess(tmp_path / "worker.log", env)
    yield worker, zone, opening
    worker.stop()


def request(i: int, zone: str, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "request_id": f"defer-{i}", "debtor_id": f"debtor-{i}", "channel": "visit",
        "destination": f"addr-{i}", "requested_at": datetime.now(UTC).isoformat(),
        "debtor": {"timezone": zone}, "on_block": "defer"}
    body.update(extra)
    return body


async def test_parked_requests_go_out_when_the_window_opens(
        setup: tuple[WorkerProcess, str, datetime], create_topics, consume,  # type: ignore[no-untyped-def]
        topic_prefix: str, bootstrap: str) -> None:
    worker, zone, opening = setup
    await create_topics(*TOPICS, partitions=2)
    worker.start()
    bodies = [request(i, zone) for i in range(PARKED)]
    bodies.append(request(99, zone, on_block="review"))
    originals = {str(b["request_id"]): orjson.dumps(b) for b in bodies}
    await produce(bootstrap, topic_prefix + "contact.requests",
                  [(str(b["debtor_id"]).encode(), originals[str(b["request_id"])])
                   for b in bodies])
    deferred = await consume(topic_prefix + "contact.deferred", PARKED, timeout=60)
    assert len(deferred) == PARKED, worker.log_tail()
    until = {orjson.loads(r.value)["request"]["request_id"]:
             parse_rfc3339(orjson.loads(r.value)["deferred_until"]) for r in deferred}
    assert set(until.values()) == {opening}
    # withdraw one, opt another out meanwhile
    await produce(bootstrap, topic_prefix + "contact.requests", [
        (b"debtor-0", orjson.dumps({"cancel": "defer-0", "debtor_id": "debtor-0"}))])
    await produce(bootstrap, topic_prefix + "debtor.events", [(b"debtor-1", orjson.dumps({
        "event_id": "ev-1", "debtor_id": "debtor-1", "type": "opt_out", "channel": "visit",
        "occurred_at": datetime.now(UTC).isoformat()}))])
    recorded = await consume(topic_prefix + "contact.deferred", PARKED + 1, timeout=30)
    assert [orjson.loads(r.value).get("found") for r in recorded
            if "cancel" in orjson.loads(r.value)] == ["cancelled"], worker.log_tail()
    assert datetime.now(UTC) < opening, "the test was too slow to park before the opening"
    await asyncio.sleep(max(0.0, (opening - datetime.now(UTC)).total_seconds()))
    allowed = await consume(topic_prefix + "contact.allowed", PARKED - 2, timeout=60)
    time.sleep(2)  # anything sent twice or after a cancel would be there by now
    allowed = await consume(topic_prefix + "contact.allowed", PARKED, timeout=3)
    review = await consume(topic_prefix + "contact.review", 2, timeout=10)
    ids = [orjson.loads(r.value)["request_id"] for r in allowed]
    assert sorted(ids) == sorted(f"defer-{i}" for i in range(2, PARKED)), worker.log_tail()
    lags = []
    for record in allowed:
        headers = dict(record.headers)
        request_id = orjson.loads(record.value)["request_id"]
        assert record.value == originals[request_id]  # the original bytes
        assert "gk-deferred-from" in headers
        assert verify([KEY.encode()], headers["gk-signature"].decode(), request_id,
                      headers["gk-decision-id"].decode(), headers["gk-policy"].decode(),
                      record.value)
        sent = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        assert sent >= opening  # never early
        lags.append((sent - until[request_id]).total_seconds())
    assert sorted(orjson.loads(r.value)["request"]["request_id"] for r in review) == \
        ["defer-1", "defer-99"]
    decisions = await consume(topic_prefix + "contact.decisions", 2 * PARKED + 1, timeout=10)
    vias = sorted(orjson.loads(r.value)["via"] for r in decisions)
    assert vias.count("deferral") == PARKED - 1  # every release attempt is recorded
    lags.sort()
    print(f"release lag over {len(lags)} releases: p50 {lags[len(lags) // 2]:.3f} s, "
          f"p99 {lags[min(len(lags) - 1, int(len(lags) * 0.99))]:.3f} s, "
          f"max {lags[-1]:.3f} s")
