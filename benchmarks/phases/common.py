"""What several phases share: saturating an app and waiting for a quiet machine."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from clients import OffsetWatcher
from harness import Apps, P, Run, cpu_cores, cpu_snapshot


async def saturate(run: Run, name: str, child: Apps, outputs: Sequence[str],
                   expected: int, on_first: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Wait until ``expected`` records are on ``outputs``; time them by record timestamps."""
    kafka_pid = run.stack.kafka_pid()
    async with OffsetWatcher(run.stack.bootstrap, outputs) as watcher:
        deadline = time.monotonic() + run.cfg.timeout
        first_seen: float | None = None
        cpu0: dict[str, float] = {}
        pids = {"app": child.pids, "kafka": kafka_pid, "redis": run.stack.redis_pid,
                "harness": os.getpid()}
        total = 0
        last_total, last_t = 0, time.monotonic()
        rate = 0.0
        while True:
            if not child.alive:
                raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
            total = sum((await watcher.per_topic()).values())
            now = time.monotonic()
            if total and first_seen is None:
                first_seen = now
                cpu0 = cpu_snapshot(pids)
                if on_first:
                    await on_first()
            if now - last_t >= 1.0:
                rate = (total - last_total) / (now - last_t)
                last_total, last_t = total, now
            P.update(f"{name}: {total:,}/{expected:,} out ({rate:,.0f}/s)")
            if total >= expected:
                break
            if now > deadline:
                raise RuntimeError(f"{name}: only {total:,} of {expected:,} outputs after "
                                   f"{run.cfg.timeout:.0f}s:\n{child.tail()}")
            await asyncio.sleep(0.2)
        wall = time.monotonic() - (first_seen or time.monotonic())
        cpu = cpu_cores(cpu0, cpu_snapshot(pids), wall)
        first, last = await watcher.edge_timestamps()
        per_topic = await watcher.per_topic()
    seconds = max(last - first, 1e-3)
    result: dict[str, Any] = {
        "messages": expected, "seconds": round(seconds, 3), "rps": round(expected / seconds),
              "outputs": {t.removeprefix(run.prefix): n for t, n in per_topic.items()},
              "cpu_cores": cpu}
    P.done(f"{name}: {expected:,} messages in {seconds:.2f}s = {result['rps']:,}/s "
           f"(CPU cores: " + ", ".join(f"{k} {v}" for k, v in cpu.items()) + ")")
    return result


async def wait_idle(run: Run, what: str, app: Sequence[int] | None = None) -> float:
    """Wait (up to --wait-idle seconds) until processes other than this run's use less than
    0.15 cores over 2 s; return the last such measure."""
    pids: dict[str, int | Sequence[int] | None] = {
        "kafka": run.stack.kafka_pid(), "redis": run.stack.redis_pid, "harness": os.getpid(),
        "app": app}
    deadline = time.monotonic() + run.cfg.wait_idle
    while True:
        before, t0 = cpu_snapshot(pids), time.monotonic()
        await asyncio.sleep(2.0)
        others = cpu_cores(before, cpu_snapshot(pids), time.monotonic() - t0)["others"]
        if others < 0.15 or time.monotonic() >= deadline:
            return others
        P.update(f"{what}: waiting for the machine to calm down (others use {others:.2f} "
                 f"cores; up to {deadline - time.monotonic():.0f}s more)")


# Store pipelines that are not the request batch's: the events and outcomes agents'
# (apply_state, settle) and the deferral release loop's looks and releases (a look at start,
# then one whenever something is due or the store's epoch changes, else one a minute)
OTHER_AGENTS = ("apply_state", "settle")
RELEASE_LOOP = ("schedule:due", "schedule:claim", "schedule:finish", "schedule:repark")


def pipelines_by_agent(delta: Callable[[str], float]) -> dict[str, float]:
    """Round trips and per-node pipelines of the request batches, the other agents and the
    release loop, from the deltas of gk_worker.py's counters over a measured window."""
    def total(metric: str, scripts: Sequence[str]) -> float:
        return sum(delta(f'{metric}{{script="{s}"}}') for s in scripts)

    other = total("gatekeeper_bench_store_trips_total", OTHER_AGENTS)
    release = total("gatekeeper_bench_store_trips_total", RELEASE_LOOP)
    other_nodes = total("gatekeeper_bench_store_node_pipelines_total", OTHER_AGENTS)
    release_nodes = total("gatekeeper_bench_store_node_pipelines_total", RELEASE_LOOP)
    return {
        "request_trips": delta("gatekeeper_bench_redis_round_trips_total") - other - release,
        "request_node_pipelines": delta("gatekeeper_bench_node_pipelines_total")
        - other_nodes - release_nodes,
        "other_agents_trips": other,
        "release_loop_trips": release,
        "release_loop_node_pipelines": release_nodes,
    }
