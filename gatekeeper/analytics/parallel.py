"""The backtest's replay sharded by debtor over processes (``--jobs``).

Debtors are independent (``replay.Lanes``): each job is a process of its own with its own
private redis-server, and replays the debtors whose key hashes to it (``shard``). The parent
reads the record and hands each job its share of every step, unparsed (each job parses its
own); at the end it merges the jobs' comparisons (``Comparison.merge``). The progress bar
shows the jobs' replayed entries summed, read from a shared array as the parent waits.

``Replayer`` is the one interface of both ways: ``InProcess`` (one job, no process) and
``Jobs``. Each ``add`` takes items of debtors none of an earlier ``flush`` holds (the record's
partition groups), ``flush`` replays what was added, ``finish`` answers the figures.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.context import SpawnProcess
from typing import Any, Protocol

from gatekeeper.analytics.backtest import Backtest, Range, figures_of
from gatekeeper.analytics.compare import Comparison
from gatekeeper.analytics.entries import Entry, parse_items
from gatekeeper.counters.keys import Hasher
from gatekeeper.gate import Gate, Ttls
from gatekeeper.policy import load_policy
from gatekeeper.record_reader import Item
from gatekeeper.simulate import simulation_store
from gatekeeper.stream import collector
from gatekeeper.timebounds import DEFAULT_BOUNDS, TimeBounds

STATS = ("events", "restored", "decided", "duplicates", "outcomes", "outcomes_left_out")
POLL = 0.05  # seconds between looks at the jobs' answers (and progress) while waiting


@dataclass(frozen=True, slots=True)
class Spec:
    """What every job needs to replay (picklable: it crosses to the processes)."""

    policies: list[str]
    span: Range
    key: bytes  # the hashing key of the replay's counters
    ttls: Ttls = field(default_factory=Ttls)
    bounds: TimeBounds = DEFAULT_BOUNDS
    redis_url: str | None = None  # None: a private redis-server (one per job)


@dataclass(slots=True)
class Result:
    """One job's (or the merged) outcome of a replay."""

    comparison: Comparison
    stats: dict[str, int]
    skipped: int = 0  # items that could not be read
    parse_seconds: float = 0.0
    replay_seconds: float = 0.0  # summed over jobs when merged
    replay_cpu_seconds: float = 0.0  # the replaying processes' CPU, summed


def shard(key: bytes, jobs: int) -> int:
    """The job of a debtor (the record's message key): stable across processes and runs."""
    return zlib.crc32(key) % jobs


class Replayer(Protocol):
    pending: int  # items added since the last flush

    async def add(self, items: Sequence[Item]) -> None: ...

    async def flush(self) -> None: ...


Body = Callable[[Replayer], Awaitable[None]]


async def replay_with(spec: Spec, jobs: int, body: Body,
                      progress: Callable[[int], None] | None = None) -> Result:
    """Run ``body`` (which adds and flushes the record) on a replayer of ``jobs`` jobs: in
    this process for one, else in as many processes; the merged result."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, found {jobs}")
    if jobs == 1:
        return await InProcess(spec, progress).run(body)
    async with Jobs(spec, jobs, progress) as replayer:
        await body(replayer)
        await replayer.flush()
        return await replayer.finish()


class _Replay:
    """One job's replay on an open store: parse, buffer, replay, count."""

    def __init__(self, gate: Gate, spec: Spec, progress: Callable[[int], None] | None):
        self.spec = spec
        self.backtest = Backtest(gate, spec.span, progress=progress)
        self.entries: list[Entry] = []
        self.skipped = 0
        self.parse_seconds = self.replay_seconds = self.replay_cpu = 0.0

    def add(self, items: Sequence[Item]) -> None:
        started = time.perf_counter()
        parsed = parse_items(items, self.spec.bounds)
        self.parse_seconds += time.perf_counter() - started
        self.skipped += parsed.skipped
        self.entries += parsed.entries

    async def flush(self) -> None:
        entries, self.entries = self.entries, []  # (each debtor's in time order)
        # the parsed history is the bulk of the heap: frozen out of the collector's way,
        # and the youngest generation collected less often (as the worker does): 15-20 %
        # less CPU per replayed request
        collector.settle()
        started, cpu = time.perf_counter(), time.process_time()
        await self.backtest.replay(entries)
        self.replay_seconds += time.perf_counter() - started
        self.replay_cpu += time.process_time() - cpu

    def result(self) -> Result:
        return Result(self.backtest.comparison, dict(self.backtest.stats), self.skipped,
                      self.parse_seconds, self.replay_seconds, self.replay_cpu)


async def open_gate(spec: Spec, store: Any) -> Gate:
    await store.load_scripts()
    return Gate(load_policy(spec.policies), store, Hasher(spec.key), spec.ttls)


class InProcess:
    """One job, in this process (no process to start): ``run`` wraps the store's life."""

    def __init__(self, spec: Spec, progress: Callable[[int], None] | None = None):
        self.spec, self.progress = spec, progress
        self.pending = 0
        self._replay: _Replay | None = None

    async def run(self, body: Body) -> Result:
        async with simulation_store(self.spec.redis_url) as store:
            self._replay = _Replay(await open_gate(self.spec, store), self.spec, self.progress)
            await body(self)
            await self.flush()
            return self._replay.result()

    async def add(self, items: Sequence[Item]) -> None:
        assert self._replay is not None
        self._replay.add(items)
        self.pending += len(items)

    async def flush(self) -> None:
        assert self._replay is not None
        self.pending = 0
        await self._replay.flush()


class JobFailed(RuntimeError):
    """A replay job stopped: its message names what it raised."""


class Jobs:
    """``jobs`` processes, each with its own private redis-server."""

    def __init__(self, spec: Spec, jobs: int, progress: Callable[[int], None] | None = None):
        if spec.redis_url is not None:
            raise ValueError("a parallel replay needs private redis-servers (no --redis)")
        self.spec, self.jobs = spec, jobs
        self.progress = progress or (lambda _: None)
        self.pending = 0
        context = multiprocessing.get_context("spawn")  # (no fork of a running event loop)
        self.done = context.Array("q", jobs, lock=False)  # entries replayed, per job
        self.inboxes = [context.Queue() for _ in range(jobs)]
        self.outbox = context.Queue()
        self.processes: list[SpawnProcess] = [
            context.Process(target=_job_main, daemon=True, name=f"gatekeeper-backtest-{job}",
                            args=(job, spec, self.inboxes[job], self.outbox, self.done))
            for job in range(jobs)]

    async def __aenter__(self) -> Jobs:
        for process in self.processes:
            process.start()
        await self._answers("ready")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for inbox in self.inboxes:
            inbox.put(None)  # (a job past its finish has ended already)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()

    async def add(self, items: Sequence[Item]) -> None:
        shares: list[list[Item]] = [[] for _ in range(self.jobs)]
        for item in items:
            shares[shard(item.key, self.jobs)].append(item)
        for inbox, share in zip(self.inboxes, shares, strict=True):
            if share:
                inbox.put(("add", share))
        self.pending += len(items)

    async def parsed(self) -> None:
        """Wait until every job has parsed what was added (a benchmark times the replay
        alone)."""
        for inbox in self.inboxes:
            inbox.put(("sync", None))
        await self._answers("sync")

    async def flush(self) -> None:
        for inbox in self.inboxes:
            inbox.put(("flush", None))
        self.pending = 0
        await self._answers("flushed")

    async def finish(self) -> Result:
        for inbox in self.inboxes:
            inbox.put(("finish", None))
        results: list[Result] = await self._answers("result")
        return merge(results)

    async def _waiting(self) -> None:
        self.progress(sum(self.done))
        for process in self.processes:
            if not process.is_alive() and process.exitcode not in (0, None):
                raise JobFailed(f"replay job {process.name} ended with exit code "
                                f"{process.exitcode}")
        await asyncio.sleep(POLL)

    async def _answers(self, kind: str) -> list[Any]:
        """Every job's answer of ``kind`` (in job order), showing progress as they come."""
        got: dict[int, Any] = {}
        while len(got) < self.jobs:
            try:
                job, answer, payload = self.outbox.get_nowait()
            except queue.Empty:
                await self._waiting()
                continue
            if answer == "error":
                raise JobFailed(f"replay job {job} failed: {payload}")
            if answer != kind:
                raise JobFailed(f"replay job {job} answered {answer!r}, expected {kind!r}")
            got[job] = payload
        self.progress(sum(self.done))
        return [got[job] for job in range(self.jobs)]


def merge(results: Sequence[Result]) -> Result:
    comparison = Comparison(results[0].comparison.candidate_policy)
    stats = dict.fromkeys(STATS, 0)
    for result in results:
        comparison.merge(result.comparison)
        for key, value in result.stats.items():
            stats[key] = stats.get(key, 0) + value
    return Result(comparison, stats, sum(r.skipped for r in results),
                  sum(r.parse_seconds for r in results), sum(r.replay_seconds for r in results),
                  sum(r.replay_cpu_seconds for r in results))


def figures(result: Result, spec: Spec, warmup_from: datetime) -> dict[str, Any]:
    return figures_of(result.comparison, spec.span, warmup_from, result.stats)


def _job_main(job: int, spec: Spec, inbox: Any, outbox: Any, done: Any) -> None:
    """A job process: answers every command of its inbox on the shared outbox."""
    try:
        asyncio.run(_job(job, spec, inbox, outbox, done))
    except BaseException as exc:  # noqa: BLE001  (reported to the parent, which raises it)
        outbox.put((job, "error", f"{type(exc).__name__}: {exc}"))


async def _job(job: int, spec: Spec, inbox: Any, outbox: Any, done: Any) -> None:
    async with simulation_store(None) as store:
        def progress(count: int) -> None:
            done[job] = count

        replay = _Replay(await open_gate(spec, store), spec, progress)
        outbox.put((job, "ready", None))
        while True:
            message = inbox.get()  # (blocking: this process does nothing else meanwhile)
            if message is None:
                return
            command, payload = message
            if command == "add":
                replay.add(payload)
            elif command == "sync":
                outbox.put((job, "sync", None))
            elif command == "flush":
                await replay.flush()
                outbox.put((job, "flushed", None))
            elif command == "finish":
                outbox.put((job, "result", replay.result()))
                return
