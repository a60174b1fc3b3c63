"""Fault injection against the real stack: crashes, outages, broker restarts, rebalances
and hostile input, each while thousands of requests stream through (tens of thousands with
GK_SOAK=1), the invariants checked after each (gatekeeper.invariants): nothing lost, nothing
doubled, no limit exceeded, nothing allowed out of hours, allowed bytes unchanged."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import kafka_helpers
import orjson
import pytest
import redis
from fault_harness import (
    FAULT_PACK,
    OUTPUTS,
    REQUESTS,
    Traffic,
    check_invariants,
    output_count,
    stream,
    wait_outputs,
)
from services import skip_or_fail
from worker_process import WorkerProcess, worker_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path, topic_prefix: str, app_id: str, redis_url: str,
        stack: object) -> dict[str, str]:
    policy = tmp_path / "faults.yaml"
    policy.write_text(FAULT_PACK)
    return worker_env(stack.broker_url, redis_url, topic_prefix, app_id,  # type: ignore[attr-defined]
                      policy, "fault-key", partitions="4", batch_size="200")


@pytest.fixture
def workers(tmp_path: Path, env: dict[str, str]) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def start_worker(workers: list[WorkerProcess], tmp_path: Path, env: dict[str, str],
                 name: str) -> WorkerProcess:
    worker = WorkerProcess(tmp_path / f"{name}.log", env).start()
    workers.append(worker)
    return worker


async def finish(bootstrap: str, topic_prefix: str, env: dict[str, str], total: int,
                 worker: WorkerProcess) -> None:
    """Wait until the group has committed every input, then check the invariants."""
    await wait_outputs(bootstrap, topic_prefix, total, alive=lambda: worker.alive)
    committed = await kafka_helpers.wait_committed(
        bootstrap, env["GATEKEEPER_APP_ID"], topic_prefix + "contact.requests", total,
        timeout=120)
    assert sum(committed.values()) >= total, worker.log_tail()
    report = await check_invariants(bootstrap, topic_prefix, env["GATEKEEPER_POLICY"])
    print(report.summary())
    assert report.ok, report.summary()
    assert report.inputs == total
    assert report.allowed > 0 and report.review > 0


@pytest.fixture
async def topics(create_topics) -> None:  # type: ignore[no-untyped-def]
    await create_topics("contact.requests", "debtor.events", "contact.outcomes", *OUTPUTS,
                        partitions=4)


async def test_sigkill_at_random_points(topics: None, workers: list[WorkerProcess],
                                        tmp_path: Path, env: dict[str, str], topic_prefix: str,
                                        bootstrap: str) -> None:
    rng = random.Random(11)
    traffic = Traffic(seed=1)
    messages = traffic.batch(REQUESTS)
    worker = start_worker(workers, tmp_path, env, "w0")
    producing = asyncio.create_task(stream(bootstrap, topic_prefix + "contact.requests",
                                           messages, rate=REQUESTS / 20))
    for kill in range(3):
        target = int(REQUESTS * (0.15 + 0.25 * kill + rng.random() * 0.1))
        await wait_outputs(bootstrap, topic_prefix, target, alive=lambda w=worker: w.alive)
        worker.kill()
        worker = start_worker(workers, tmp_path, env, f"w{kill + 1}")
    await producing
    await finish(bootstrap, topic_prefix, env, REQUESTS, worker)


async def test_redis_paused_forwards_nothing_and_resumes(
        topics: None, workers: list[WorkerProcess], tmp_path: Path, env: dict[str, str],
        topic_prefix: str, bootstrap: str, redis_url: str) -> None:
    traffic = Traffic(seed=2)
    worker = start_worker(workers, tmp_path, env, "w0")
    half = REQUESTS // 2
    await stream(bootstrap, topic_prefix + "contact.requests", traffic.batch(half))
    await wait_outputs(bootstrap, topic_prefix, half)
    client = redis.Redis.from_url(redis_url)
    client.execute_command("CLIENT", "PAUSE", "10000", "ALL")  # unresponsive for 10 s
    try:
        await stream(bootstrap, topic_prefix + "contact.requests", traffic.batch(half))
        await asyncio.sleep(2)
        before = await output_count(bootstrap, topic_prefix)
        await asyncio.sleep(6)
        assert await output_count(bootstrap, topic_prefix) == before == half
        assert worker.alive
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
    await finish(bootstrap, topic_prefix, env, REQUESTS, worker)


async def test_kafka_broker_restart_mid_stream(
        topics: None, workers: list[WorkerProcess], tmp_path: Path, env: dict[str, str],
        topic_prefix: str, bootstrap: str) -> None:
    pid_file = ROOT / ".stack" / "kafka" / "kafka.pid"
    if not pid_file.exists():
        message = "the broker was not started by scripts/stack: cannot restart it"
        skip_or_fail(message)
    traffic = Traffic(seed=3)
    worker = start_worker(workers, tmp_path, env, "w0")
    third = REQUESTS // 3
    await stream(bootstrap, topic_prefix + "contact.requests", traffic.batch(third))
    await wait_outputs(bootstrap, topic_prefix, third)
    os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)  # a crash, not a clean stop
    await asyncio.sleep(3)
    subprocess.run([str(ROOT / "scripts" / "stack"), "up"], check=True, capture_output=True,
                   timeout=180)
    assert worker.alive
    await stream(bootstrap, topic_prefix + "contact.requests",
                 traffic.batch(REQUESTS - third))
    await finish(bootstrap, topic_prefix, env, REQUESTS, worker)


async def test_a_second_worker_joins_and_the_first_leaves(
        topics: None, workers: list[WorkerProcess], tmp_path: Path, env: dict[str, str],
        topic_prefix: str, bootstrap: str) -> None:
    traffic = Traffic(seed=4, debtors=50)  # few debtors: every partition has hot ones
    first = start_worker(workers, tmp_path, env, "a")
    producing = asyncio.create_task(stream(bootstrap, topic_prefix + "contact.requests",
                                           traffic.batch(REQUESTS), rate=REQUESTS / 20))
    await wait_outputs(bootstrap, topic_prefix, REQUESTS // 4)
    second = start_worker(workers, tmp_path, env, "b")
    await wait_outputs(bootstrap, topic_prefix, REQUESTS // 2)
    first.stop()
    await producing
    await finish(bootstrap, topic_prefix, env, REQUESTS, second)
    assert "Assigned" in second.log_text() or "assigned" in second.log_text()


def hostile(rng: random.Random, i: int) -> bytes:
    good = {"request_id": f"h{i}", "debtor_id": "debtor-1", "channel": "call",
            "destination": "+442079400001", "requested_at": "2026-03-02T12:00:00Z"}
    kind = i % 12
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if kind == 1:
        return b'{"request_id": "\xff\xfe", "debtor_id": "x"}'
    if kind == 2:
        return orjson.dumps({**good, "debtor_id": 12})
    if kind == 3:
        return orjson.dumps({**good, "destination": "x" * 1_000_000})
    if kind == 4:
        nested: object = "leaf"
        for _ in range(200):
            nested = {"n": nested}
        return orjson.dumps({**good, "debtor": nested})
    if kind == 5:
        return orjson.dumps({**good, "requested_at": "0001-01-01T00:00:00Z",
                             "not_after": "9999-12-31T23:59:59Z", "channel": "telegram"})
    if kind == 6:
        return orjson.dumps({**good, "debtor": {"timezone": "Europe/Atlantis"}})
    if kind == 7:
        return orjson.dumps({**good, "channel": None})
    if kind == 8:
        return b"[" * 10000
    if kind == 9:
        return orjson.dumps({**good, "requested_at": "2026-02-30T12:00:00Z"})
    if kind == 10:
        return orjson.dumps([good])
    return orjson.dumps({**good, "request_id": ""})


async def test_hostile_input_lands_on_invalid_and_the_worker_goes_on(
        topics: None, workers: list[WorkerProcess], tmp_path: Path, env: dict[str, str],
        topic_prefix: str, bootstrap: str) -> None:
    rng = random.Random(5)
    traffic = Traffic(seed=5)
    worker = start_worker(workers, tmp_path, env, "w0")
    bad = [(b"debtor-1", hostile(rng, i)) for i in range(600)]
    # a request id reused with other content: the second is invalid too
    collision_first = traffic.request()
    body = orjson.loads(collision_first[1])
    body["destination"] = "+442079499999"
    collision = (collision_first[0], orjson.dumps(body))
    good = traffic.batch(REQUESTS // 2)
    mixed = good + bad
    rng.shuffle(mixed)
    await stream(bootstrap, topic_prefix + "contact.requests", [collision_first])
    await wait_outputs(bootstrap, topic_prefix, 1)
    await stream(bootstrap, topic_prefix + "contact.requests", mixed + [collision])
    total = len(mixed) + 2
    await finish(bootstrap, topic_prefix, env, total, worker)
    report = await check_invariants(bootstrap, topic_prefix, env["GATEKEEPER_POLICY"])
    assert report.invalid == len(bad) + 1
