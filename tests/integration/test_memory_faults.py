"""The gate's memory under faults (issue 9): Redis loses data while traffic and debtor events
stream through a real worker process, and the invariants are checked by reading the topics:
nothing lost, nothing doubled, no limit exceeded, no opt-out or status ignored, nothing
forwarded unchecked; and the worker's log shows that it held and rebuilt its store.

Each fault runs against a redis-server of the test's own (tests/redis_faults.py) on a free
port, never the shared stack's, so killing or flushing it disturbs nobody. Quick mode streams
``REQUESTS`` requests (4,000) with a chunk of debtor events before every 100 of them;
``GK_SOAK=1`` streams ``GK_SOAK_REQUESTS``. Each test prints what it measured (``-s``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import kafka_helpers
import orjson
import pytest
from fault_harness import (
    MEMORY_PACK,
    OUTPUTS,
    REQUESTS,
    SOAK,
    MemoryTraffic,
    check_invariants,
    fresh_opt_out_pairs,
    stream_chunks,
    wait_outputs,
)
from redis_faults import FaultRedis, Proxy
from worker_process import WorkerProcess, worker_env

from gatekeeper.invariants import read_topic

REBUILT = re.compile(r"store rebuilt in ([0-9.]+)s")
RATE = 500.0 if SOAK else 250.0  # requests per second while a fault is injected
FRESH = 10_000 if SOAK else 2_000
pytestmark = pytest.mark.timeout(900 if SOAK else 240)  # each takes under a minute (quick)


@pytest.fixture
async def topics(create_topics: Callable[..., Awaitable[list[str]]]) -> None:
    await create_topics("contact.requests", "debtor.events", "contact.outcomes",
                        "contact.decisions", *OUTPUTS, partitions=4)


@pytest.fixture
def own_redis() -> Iterator[FaultRedis]:
    server = FaultRedis().start()
    yield server
    server.close()


class Run:
    """One test's workers, environment and measurements."""

    def __init__(self, tmp_path: Path, stack: Any, topic_prefix: str, app_id: str,
                 redis_url: str, bootstrap: str):
        policy = tmp_path / "memory.yaml"
        policy.write_text(MEMORY_PACK)
        self.tmp_path = tmp_path
        self.prefix = topic_prefix
        self.bootstrap = bootstrap
        self.env = worker_env(stack.broker_url, redis_url, topic_prefix, app_id, policy,
                              "fault-key", partitions="4", batch_size="200")
        self.workers: list[WorkerProcess] = []
        self.measured: dict[str, Any] = {}

    def start(self, name: str, **env: str) -> WorkerProcess:
        self.env.update(env)
        worker = WorkerProcess(self.tmp_path / f"{name}.log", self.env).start()
        self.workers.append(worker)
        return worker

    @property
    def worker(self) -> WorkerProcess:
        return self.workers[-1]

    def rebuilds(self) -> list[float]:
        return [float(m) for w in self.workers for m in REBUILT.findall(w.log_text())]

    async def wait_rebuild(self, before: int, since: float, timeout: float = 120.0) -> None:
        """Wait until the worker logged one more rebuild than ``before``; record how long
        after ``since`` (the fault) it came, and how long the rebuild itself took."""
        deadline = time.monotonic() + timeout
        while len(self.rebuilds()) <= before:
            assert self.worker.alive, self.worker.log_tail()
            assert time.monotonic() < deadline, "no rebuild logged:\n" + self.worker.log_tail()
            await asyncio.sleep(0.1)
        self.measured["hold_s"] = round(time.monotonic() - since, 1)
        self.measured["rebuild_s"] = self.rebuilds()[-1]

    async def finish(self, total: int) -> Any:
        """Wait until every input is decided and committed, then check the invariants."""
        await wait_outputs(self.bootstrap, self.prefix, total, alive=lambda: self.worker.alive)
        committed = await kafka_helpers.wait_committed(
            self.bootstrap, self.env["GATEKEEPER_APP_ID"], self.prefix + "contact.requests",
            total, timeout=120)
        assert sum(committed.values()) >= total, self.worker.log_tail()
        report = await check_invariants(self.bootstrap, self.prefix,
                                        self.env["GATEKEEPER_POLICY"])
        self.measured.update(inputs=report.inputs, allowed=report.allowed,
                             review=report.review, events=report.events,
                             bound=report.bound, duplicates=report.duplicates)
        print(f"topics {self.prefix}*, group {self.env['GATEKEEPER_APP_ID']}")
        print(report.summary())
        print("measured:", self.measured)
        assert report.ok, report.summary()
        assert report.inputs == total
        assert report.allowed > 0 and report.review > 0
        return report


@pytest.fixture
def run(tmp_path: Path, stack: Any, topic_prefix: str, app_id: str, own_redis: FaultRedis,
        bootstrap: str) -> Iterator[Run]:
    state = Run(tmp_path, stack, topic_prefix, app_id, own_redis.url, bootstrap)
    yield state
    for worker in state.workers:
        worker.stop()


async def stream_with_fault(run: Run, seed: int, fault: Callable[[], Awaitable[float]],
                            at: float = 0.4) -> None:
    """Stream events and requests; at ``at`` of the requests decided, inject ``fault``
    (which returns the instant the gate's store was hit), wait for the rebuild, let the
    rest stream, and check everything."""
    traffic = MemoryTraffic(seed=seed)
    run.start("w0")
    await wait_first_rebuild(run)
    producing = asyncio.create_task(stream_chunks(run.bootstrap, run.prefix,
                                                  traffic.chunks(REQUESTS), REQUESTS / RATE))
    try:
        await wait_outputs(run.bootstrap, run.prefix, int(REQUESTS * at),
                           alive=lambda: run.worker.alive)
        before = len(run.rebuilds())
        since = await fault()
        await run.wait_rebuild(before, since)
        await producing
    finally:
        producing.cancel()
    report = await run.finish(REQUESTS)
    assert report.bound > 0, "no allowed request came after events of its debtor"


async def wait_first_rebuild(run: Run) -> None:
    """A worker on an empty Redis builds it from the (empty) record before it is ready."""
    deadline = time.monotonic() + 60
    while not run.rebuilds():
        assert time.monotonic() < deadline, run.worker.log_tail()
        await asyncio.sleep(0.1)


async def test_redis_sigkilled_and_restarted_empty(run: Run, own_redis: FaultRedis,
                                                   topics: None) -> None:
    async def fault() -> float:
        own_redis.kill()
        await asyncio.sleep(2)
        own_redis.start()  # no persistence: empty
        return time.monotonic()

    await stream_with_fault(run, 21, fault)


async def test_flushall_mid_stream(run: Run, own_redis: FaultRedis, topics: None) -> None:
    async def fault() -> float:
        client = own_redis.client()
        try:
            client.flushall()
        finally:
            client.close()
        return time.monotonic()

    await stream_with_fault(run, 22, fault)


async def test_restarted_from_an_older_snapshot(run: Run, own_redis: FaultRedis,
                                                topics: None, tmp_path: Path) -> None:
    """SAVE early, more traffic, SIGKILL, start again from that RDB: what a failover to a
    lagging replica or a restore of last night's backup looks like to the gate."""
    snapshot = tmp_path / "old.rdb"

    async def fault() -> float:
        run.measured["snapshot_keys"] = own_redis.snapshot(snapshot)
        await wait_outputs(run.bootstrap, run.prefix, int(REQUESTS * 0.6),
                           alive=lambda: run.worker.alive)
        own_redis.kill()
        own_redis.start(snapshot=snapshot)
        client = own_redis.client()
        try:
            run.measured["restored_keys"] = int(client.dbsize())
        finally:
            client.close()
        return time.monotonic()

    await stream_with_fault(run, 23, fault, at=0.25)
    assert run.measured["restored_keys"] == run.measured["snapshot_keys"] > 0


async def test_replica_promoted_after_the_master_is_killed(
        tmp_path: Path, stack: Any, topic_prefix: str, app_id: str, bootstrap: str,
        topics: None) -> None:
    """A real replica (REPLICAOF), promoted with REPLICAOF NO ONE after the master is
    SIGKILLed; the worker reaches Redis through a TCP proxy that then points at the replica
    (as a virtual IP or a sentinel-aware endpoint would)."""
    master = FaultRedis().start()
    replica = FaultRedis(replica_of=master.port).start()
    proxy = Proxy(master.port)
    run = Run(tmp_path, stack, topic_prefix, app_id, proxy.url, bootstrap)
    try:
        replica.wait_synced()

        async def fault() -> float:
            master_id = master.run_id()
            master.kill()
            await asyncio.sleep(1)
            replica.promote()
            proxy.switch(replica.port)
            assert replica.run_id() != master_id
            return time.monotonic()

        await stream_with_fault(run, 24, fault)
    finally:
        for worker in run.workers:
            worker.stop()
        proxy.close()
        replica.close()
        master.close()


async def test_both_keys_rotated_mid_stream(run: Run, topics: None) -> None:
    """The worker restarted with a new hashing key and GATEKEEPER_SIGNING_KEY="new,old": the
    store is rebuilt with the new key; every allowed message is signed by one of the keys."""
    from gatekeeper import signing

    async def fault() -> float:
        run.worker.stop()
        started = time.monotonic()
        run.start("rotated", GATEKEEPER_HASH_KEY="rotated-hash-key",
                  GATEKEEPER_SIGNING_KEY="rotated-key,fault-key")
        return started

    await stream_with_fault(run, 25, fault)
    assert "hashing key changed" in run.worker.log_text()
    keys = [b"rotated-key", b"fault-key"]
    signed_new = 0
    for record in await read_topic(run.bootstrap, run.prefix + "contact.allowed"):
        headers = {k: v.decode() for k, v in record.headers}
        request_id = orjson.loads(record.value or b"{}")["request_id"]
        args = (headers["gk-signature"], request_id, headers["gk-decision-id"],
                headers["gk-policy"], record.value or b"")
        assert signing.verify(keys, *args), request_id
        signed_new += signing.verify(keys[:1], *args)
    assert signed_new > 0


async def test_opt_outs_acknowledged_just_before_a_request_bind_it(run: Run,
                                                                   topics: None) -> None:
    """For thousands of fresh debtors: an opt-out of calls, of the number, or a cease,
    acknowledged by the broker, then at once a call to that debtor: none may be allowed.
    Half stream while the worker keeps up; half while it is stopped, so that the restarted
    worker finds both topics with a backlog (its request agent may run ahead of its events
    agent: only the catch-up before each batch keeps the order)."""
    half = FRESH // 2
    run.start("w0")
    started = time.monotonic()
    await stream_chunks(run.bootstrap, run.prefix, fresh_opt_out_pairs(half, "live"))
    await wait_outputs(run.bootstrap, run.prefix, half, alive=lambda: run.worker.alive)
    run.measured["live_s"] = round(time.monotonic() - started, 1)
    run.worker.stop()
    await stream_chunks(run.bootstrap, run.prefix, fresh_opt_out_pairs(FRESH - half, "lag"))
    started = time.monotonic()
    run.start("w1")
    await wait_outputs(run.bootstrap, run.prefix, FRESH, alive=lambda: run.worker.alive)
    run.measured["backlog_s"] = round(time.monotonic() - started, 1)
    allowed = await read_topic(run.bootstrap, run.prefix + "contact.allowed")
    review = await read_topic(run.bootstrap, run.prefix + "contact.review")
    run.measured.update(allowed=len(allowed), review=len(review))
    print("measured:", run.measured)
    assert not allowed, f"{len(allowed)} of {FRESH} calls allowed after a binding event: " \
        + ", ".join(sorted(orjson.loads(r.value or b"{}")["request_id"] for r in allowed)[:10])
    rules = {reason["rule"] for r in review
             for reason in orjson.loads(r.value or b"{}")["decision"]["reasons"]}
    assert rules == {"faults/opt-outs", "faults/statuses"}
    report = await check_invariants(run.bootstrap, run.prefix, run.env["GATEKEEPER_POLICY"])
    assert report.ok and report.inputs == FRESH and report.review == FRESH, report.summary()
