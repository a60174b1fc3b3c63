"""The worker through real Kafka and Redis: every request leaves on exactly one output
topic, no limit is exceeded, duplicates are decided once, malformed input is dead-lettered,
allowed messages are the original bytes with a valid signature, and a Redis outage
forwards nothing and loses nothing."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from worker_process import WorkerProcess
from worker_process import worker_env as make_env

from gatekeeper.kafka_security import kafka_options
from gatekeeper.redis_server import PrivateRedis
from gatekeeper.signing import verify

KEY = "integration-signing-key"
LIMIT_PACK = """
pack: caps
title: integration caps, no clock rules (the wall clock must not matter here)
applies_to: ["*"]
rules:
  - id: calls-per-day
    kind: limit
    citation: test
    channels: [call]
    max: 3
    window: {calendar: day}
  - id: opt-outs
    kind: opt_out
    citation: test
"""
OUTPUTS = ("contact.allowed", "contact.review", "contact.invalid")


def request(i: int, who: int, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "request_id": f"req-{i}", "debtor_id": f"debtor-{who}", "channel": "call",
        "destination": f"+1212555{who:04d}", "requested_at": datetime.now(UTC).isoformat(),
        "debtor": {"timezone": "UTC"}}
    body.update(extra)
    return body


@pytest.fixture
def worker_env(tmp_path: Path, topic_prefix: str, app_id: str, redis_url: str,
               stack: object) -> dict[str, str]:
    policy = tmp_path / "caps.yaml"
    policy.write_text(LIMIT_PACK)
    return make_env(stack.broker_url, redis_url, topic_prefix, app_id,  # type: ignore[attr-defined]
                    policy, KEY, partitions="2")


@pytest.fixture
def worker(tmp_path: Path, worker_env: dict[str, str]) -> Iterator[WorkerProcess]:
    process = WorkerProcess(tmp_path / "worker.log", worker_env)
    yield process
    process.stop()


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, **kafka_options())
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_outputs(bootstrap: str, prefix: str, expected: int, timeout: float = 90.0
                       ) -> dict[str, list]:
    """Read the three output topics until ``expected`` messages in all (or time out)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(*[prefix + t for t in OUTPUTS], bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", group_id=None,
                                enable_auto_commit=False, **kafka_options())
    await consumer.start()
    await asyncio.sleep(0)
    found: dict[str, list] = {t: [] for t in OUTPUTS}
    deadline = time.monotonic() + timeout
    try:
        while sum(map(len, found.values())) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                found[tp.topic.removeprefix(prefix)].extend(records)
        # a little longer: anything beyond `expected` is a duplicate we want to see
        batches = await consumer.getmany(timeout_ms=1000)
        for tp, records in batches.items():
            found[tp.topic.removeprefix(prefix)].extend(records)
    finally:
        await consumer.stop()
    return found


async def test_thousands_of_requests_each_leave_once_within_limits(
        worker: WorkerProcess, create_topics, topic_prefix: str, bootstrap: str) -> None:
    await create_topics("contact.requests", "debtor.events", "contact.outcomes",
                        *OUTPUTS, partitions=2)
    worker.start()
    rng = random.Random(7)
    bodies = [request(i, rng.randrange(300)) for i in range(3000)]
    messages = [(b["debtor_id"].encode(), orjson.dumps(b)) for b in bodies]
    duplicates = rng.sample(messages, 100)
    malformed = [(b"debtor-1", b"{not json"), (b"debtor-2", orjson.dumps({"request_id": 1})),
                 (b"debtor-3", orjson.dumps(request(9001, 3, channel="fax"))),
                 (b"debtor-4", orjson.dumps(request(9002, 4, requested_at="yesterday"))),
                 (b"debtor-5", orjson.dumps(request(9003, 5, debtor={"timezone": "Mars/X"}))),
                 (b"debtor-6", "\udcff".encode("utf-8", "surrogateescape") * 3)] * 5
    stream = messages + duplicates + malformed
    rng.shuffle(stream)
    await produce(bootstrap, topic_prefix + "contact.requests", stream)

    found = await read_outputs(bootstrap, topic_prefix, len(stream))
    total = sum(map(len, found.values()))
    assert total == len(stream), worker.log_tail()
    assert len(found["contact.invalid"]) == len(malformed)
    for record in found["contact.invalid"]:
        body = orjson.loads(record.value)
        assert body["error"]["message"] and body["source"]["topic"].endswith("contact.requests")

    by_id: dict[str, set[str]] = defaultdict(set)
    originals = {orjson.loads(v)["request_id"]: v for _, v in messages}
    allowed_per_debtor: Counter[str] = Counter()
    for record in found["contact.allowed"]:
        body = orjson.loads(record.value)
        request_id = body["request_id"]
        assert record.value == originals[request_id]  # the original bytes, unchanged
        headers = dict(record.headers)
        assert verify([KEY.encode()], headers["gk-signature"].decode(), request_id,
                      headers["gk-decision-id"].decode(), headers["gk-policy"].decode(),
                      record.value)
        if "allowed" not in by_id[request_id]:
            allowed_per_debtor[body["debtor_id"]] += 1
        by_id[request_id].add("allowed")
    for record in found["contact.review"]:
        body = orjson.loads(record.value)
        assert body["decision"]["decision"] == "blocked"
        assert body["decision"]["reasons"][0]["rule"] == "caps/calls-per-day"
        by_id[body["request"]["request_id"]].add("review")
    assert set(by_id) == set(originals)
    assert all(len(fates) == 1 for fates in by_id.values())  # duplicates: the same fate
    per_debtor = Counter(orjson.loads(v)["debtor_id"] for v in originals.values())
    for debtor, requested in per_debtor.items():
        assert allowed_per_debtor[debtor] == min(3, requested)
    assert worker.alive


async def test_a_redis_outage_pauses_forwarding_and_loses_nothing(
        tmp_path: Path, worker_env: dict[str, str], create_topics, topic_prefix: str,
        bootstrap: str) -> None:
    await create_topics("contact.requests", "debtor.events", "contact.outcomes",
                        *OUTPUTS, partitions=2)
    with PrivateRedis() as redis_server:
        env = {**worker_env, "GATEKEEPER_REDIS": redis_server.url}
        worker = WorkerProcess(tmp_path / "worker-outage.log", env).start()
        try:
            first = [request(i, i % 50) for i in range(200)]
            await produce(bootstrap, topic_prefix + "contact.requests",
                          [(b["debtor_id"].encode(), orjson.dumps(b)) for b in first])
            found = await read_outputs(bootstrap, topic_prefix, 200, timeout=60)
            assert sum(map(len, found.values())) == 200

            assert redis_server.process is not None
            os.kill(redis_server.process.pid, signal.SIGSTOP)  # unresponsive, not closed
            second = [request(i, i % 50) for i in range(200, 400)]
            await produce(bootstrap, topic_prefix + "contact.requests",
                          [(b["debtor_id"].encode(), orjson.dumps(b)) for b in second])
            await asyncio.sleep(8)
            during = await read_outputs(bootstrap, topic_prefix, 10**9, timeout=2)
            assert sum(map(len, during.values())) == 200  # nothing forwarded meanwhile
            os.kill(redis_server.process.pid, signal.SIGCONT)
            assert worker.alive

            after = await read_outputs(bootstrap, topic_prefix, 400, timeout=60)
            fates: dict[str, set[str]] = defaultdict(set)
            for topic, records in after.items():
                for record in records:
                    body = orjson.loads(record.value)
                    fates[body.get("request_id") or body["request"]["request_id"]].add(topic)
            assert len(fates) == 400 and all(len(f) == 1 for f in fates.values())
            allowed = Counter(orjson.loads(r.value)["debtor_id"]
                              for r in after["contact.allowed"])
            assert max(allowed.values()) <= 3

            redis_server.stop()  # down entirely: the worker waits...
            third = [request(i, 1000 + i) for i in range(400, 450)]
            await produce(bootstrap, topic_prefix + "contact.requests",
                          [(b["debtor_id"].encode(), orjson.dumps(b)) for b in third])
            await asyncio.sleep(3)
            assert worker.alive
            redis_server.start()  # ...and resumes by itself on an empty Redis
            final = await read_outputs(bootstrap, topic_prefix, 450, timeout=60)
            assert sum(map(len, final.values())) >= 450
            assert "paused" in worker.log_text()
        finally:
            worker.stop()


async def test_events_and_outcomes_topics_drive_state(
        worker: WorkerProcess, create_topics, topic_prefix: str, bootstrap: str,
        redis_url: str) -> None:
    import redis

    from gatekeeper.counters.keys import counters_key, record_field
    from gatekeeper.counters.wire import read_stored
    from gatekeeper.gate import DAY, Ttls

    await create_topics("contact.requests", "debtor.events", "contact.outcomes", *OUTPUTS,
                        partitions=2)
    worker.start()
    now = datetime.now(UTC).isoformat()
    opt_out = {"event_id": "e1", "debtor_id": "debtor-7", "type": "opt_out", "channel": "call",
               "occurred_at": now}
    await produce(bootstrap, topic_prefix + "debtor.events",
                  [(b"debtor-7", orjson.dumps(opt_out)), (b"debtor-7", b"{broken")])
    await asyncio.sleep(2)  # the events agent applies them
    await produce(bootstrap, topic_prefix + "contact.requests",
                  [(b"debtor-7", orjson.dumps(request(1, 7))),
                   (b"debtor-8", orjson.dumps(request(2, 8)))])
    found = await read_outputs(bootstrap, topic_prefix, 3, timeout=60)
    (blocked,) = found["contact.review"]
    assert orjson.loads(blocked.value)["decision"]["reasons"][0]["rule"] == "caps/opt-outs"
    (dead,) = found["contact.invalid"]
    assert orjson.loads(dead.value)["source"]["topic"].endswith("debtor.events")
    assert len(found["contact.allowed"]) == 1

    outcome = {"request_id": "req-2", "debtor_id": "debtor-8", "outcome": "no_answer",
               "occurred_at": now}
    await produce(bootstrap, topic_prefix + "contact.outcomes",
                  [(b"debtor-8", orjson.dumps(outcome))])
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert Ttls().decision_seconds == 3 * DAY

    def settled() -> str:
        record = client.hget(counters_key("debtor-8"), record_field("req-2"))
        return read_stored(record)[2] or "-"

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and settled() == "-":
        await asyncio.sleep(0.2)
    assert settled() == "no_answer"


async def test_operators_see_metrics_review_rows_and_debtor_counters(
        worker_env: dict[str, str], tmp_path: Path, create_topics, topic_prefix: str,
        bootstrap: str) -> None:
    import socket
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**worker_env, "GATEKEEPER_METRICS_PORT": str(port)}
    await create_topics("contact.requests", "debtor.events", "contact.outcomes", *OUTPUTS,
                        partitions=2)
    worker = WorkerProcess(tmp_path / "worker-ops.log", env).start()
    try:
        await produce(bootstrap, topic_prefix + "contact.requests",
                      [(b"debtor-5", orjson.dumps(request(i, 5))) for i in range(4)]
                      + [(b"debtor-5", b"{broken")])
        found = await read_outputs(bootstrap, topic_prefix, 5, timeout=60)
        assert len(found["contact.allowed"]) == 3 and len(found["contact.review"]) == 1
        assert len(found["contact.invalid"]) == 1

        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        metrics = body.decode()
        assert ('gatekeeper_decisions_total{channel="call",decision="blocked",'
                'rule="caps/calls-per-day"} 1.0') in metrics
        assert "gatekeeper_decision_seconds_bucket" in metrics

        def cli(*args: str) -> str:
            run = subprocess.run([sys.executable, "-m", "gatekeeper", *args], env={**os.environ,
                                 **env}, capture_output=True, text=True, timeout=60)
            assert run.returncode == 0, run.stderr
            return run.stdout

        table = cli("review", "tail", "--from-beginning", "--limit", "1")
        assert "caps/calls-per-day" in table and "debtor-5" in table and "retry_at" in table
        dead = cli("invalid", "tail", "--from-beginning", "--limit", "1")
        assert re.search(r"contact\.requests\[\d\]@\d+\s+-\s+not valid JSON", dead), dead
        shown = cli("debtor", "show", "debtor-5")
        assert "debtor debtor-5" in shown
        assert re.search(r"caps/calls-per-day\s+per debtor\s+\d{4}-\d\d-\d\d\s+3$", shown,
                         re.MULTILINE), shown
        assert "decisions on record (for replays and outcomes): 4" in shown
        assert "5550005" not in shown  # the number appears only hashed
        record = cli("decision", "show", "req-0", "--debtor", "debtor-5")
        assert re.search(r"decision\s+allowed$", record, re.MULTILINE), record
    finally:
        worker.stop()
