"""Latency at fixed offered loads: a fresh app on its own topics, the harness's send() to the
output record's LogAppendTime."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from clients import OffsetWatcher, scrape_all
from harness import (
    P,
    Run,
    cpu_cores,
    cpu_snapshot,
    free_port,
    percentiles,
    start_apps,
    stop_apps,
    wait_ready,
    worker_argv,
)

from phases.common import wait_idle

if TYPE_CHECKING:
    from gatekeeper.traffic import Traffic


@dataclass
class Window:
    """One fixed-rate measurement: request id -> send time of the requests it measures."""

    rate: float
    seconds: float
    warmup: float
    pending: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    send_rps: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    produce: list[float] = field(default_factory=list)  # harness send() -> broker ack, ms
    stages: dict[str, Any] = field(default_factory=dict)  # the worker's, this window only


async def phase_latency(run: Run, app: str = "gatekeeper") -> dict[str, Any]:
    """A fresh app on its own topics, offered a fixed load: first ``low_rate`` (to see
    the latency of a lightly loaded app), then ``rate``; each after a warm-up whose requests
    are not measured. ``app``: "gatekeeper" (the worker), "passthrough" (faust) or "hot" (the
    hot-path passthrough: the hot loop forwarding unchecked, the floor of this harness).

    Arrival is the broker's LogAppendTime of the output record (the output topics of these
    lanes are created with message.timestamp.type=LogAppendTime), so the harness only
    produces while it measures and reads the outputs afterwards: on a 2-core machine a
    consumer in the harness would take CPU from the app under test."""
    cfg = run.cfg
    lane = {"gatekeeper": "lat", "passthrough": "ptlat", "hot": "hplat"}[app]
    topics = run.topics(lane)
    outputs = [topics[k] for k in ("allowed", "review", "invalid")]
    ports = [free_port() for _ in range(run.cfg.workers)]
    if app == "gatekeeper":
        child = start_apps("gatekeeper-worker-latency", worker_argv(),
                           [run.app_env(lane, metrics_port=port) for port in ports],
                           run.log_dir)
        needles = ["gatekeeper ready", "Worker]: Ready"]
    elif app == "hot":
        child = start_apps("hot-passthrough-latency",
                           [sys.executable, "-m", "gatekeeper.stream.hot_passthrough"],
                           [run.app_env(lane)] * run.cfg.workers, run.log_dir)
        needles = ["hot passthrough ready", "Worker]: Ready"]
    else:
        child = start_apps("faust-passthrough-latency",
                           [sys.executable, "-m", "gatekeeper.stream.passthrough"],
                           [run.app_env(lane)] * run.cfg.workers, run.log_dir)
        needles = ["passthrough ready", "Worker]: Ready"]
    metrics: dict[str, float] = {}
    from gatekeeper.traffic import BENCH, Traffic

    mix = Traffic(BENCH, cfg.debtors, seed=7, run=run.prefix + lane)
    seen: set[str] = set()
    windows = [Window(r, s, cfg.warmup_seconds) for r, s in
               ((cfg.low_rate, cfg.low_seconds), (cfg.rate, cfg.latency_seconds))
               if s > 0 and r > 0]
    kinds: Counter[str] = Counter()
    try:
        await wait_ready(child, needles)
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=run.stack.bootstrap, linger_ms=1)
        await producer.start()
        try:
            async with OffsetWatcher(run.stack.bootstrap, outputs) as watcher:
                # faust takes its partitions ~1 s after "Ready": probe until one is decided
                deadline = time.monotonic() + 60
                total_sent = 0
                while time.monotonic() < deadline:
                    key, value = mix.request()
                    await producer.send_and_wait(topics["requests"], value, key=key)
                    total_sent += 1
                    wait_until = time.monotonic() + 2
                    while time.monotonic() < wait_until:
                        if sum((await watcher.ends()).values()) >= 1:
                            break
                        await asyncio.sleep(0.1)
                    else:
                        P.update(f"latency ({app}): waiting for the app to take its partitions")
                        continue
                    break
                if sum((await watcher.ends()).values()) < 1:
                    raise RuntimeError("latency: the app decided nothing in 60 s:\n"
                                       + child.tail())
                pids: dict[str, int | Sequence[int] | None] = {
                    "app": child.pids, "kafka": run.stack.kafka_pid(),
                    "redis": run.stack.redis_pid, "harness": os.getpid()}
                for window in windows:
                    await wait_idle(run, f"latency ({app})", child.pids)
                    starts = await watcher.ends()
                    before = scrape_all(ports) if app == "gatekeeper" else {}
                    cpu0, t0 = cpu_snapshot(pids), time.monotonic()
                    await offer(window, mix, producer, topics["requests"], seen, app,
                                watcher, sum(starts.values()))
                    total_sent += window.sent
                    drain = time.monotonic() + 30
                    while time.monotonic() < drain:
                        done = sum((await watcher.ends()).values())
                        if done >= total_sent:
                            break
                        P.update(f"latency ({app}): draining, {total_sent - done:,} of "
                                 f"{window.sent:,} still in flight")
                        await asyncio.sleep(0.1)
                    window.cpu = cpu_cores(cpu0, cpu_snapshot(pids), time.monotonic() - t0)
                    if before:
                        window.stages = batch_stages(before, scrape_all(ports))
                    kinds.update(await read_arrivals(watcher, starts, window))
                    P.done(window_line(window, app))
        finally:
            await producer.stop()
        if app == "gatekeeper":
            metrics = scrape_all(ports)
    finally:
        stop_apps(child)
    result: dict[str, Any] = {}
    for window in windows:
        window.latencies.sort()
        entry = {"offered_rps": window.rate, "achieved_send_rps": round(window.send_rps),
                 "seconds": window.seconds, "warmup_seconds": window.warmup,
                 "sent": window.sent, "measured": len(window.latencies),
                 "not_decided_within_30s": len(window.pending),
                 "latency_ms": percentiles(window.latencies),
                 "harness_produce_ack_ms": percentiles(sorted(window.produce)),
                 "cpu_cores": window.cpu, **window.stages}
        if window.rate == cfg.rate:
            result.update(entry)
        else:
            result.setdefault("at_other_rates", []).append(entry)
    result["outputs"] = dict(kinds)
    batches = metrics.get("gatekeeper_batch_size_count")
    if batches:
        result["batches"] = int(batches)
        result["mean_batch_size"] = round(metrics["gatekeeper_batch_size_sum"] / batches, 1)
        result["worker_batch_seconds_mean"] = round(
            metrics["gatekeeper_decision_seconds_sum"] / batches, 4)
    return result


def batch_stages(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """The worker's batches during a window (warm-up included): how many, their mean size
    and time, and with GATEKEEPER_STAGE_TIMES=1 the mean time of each stage
    (gatekeeper/stream/stages.py), all from the deltas of its metrics."""
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    batches = delta("gatekeeper_batch_size_count")
    if batches <= 0:
        return {}
    out: dict[str, Any] = {
        "window_batches": int(batches),
        "window_mean_batch_size": round(delta("gatekeeper_batch_size_sum") / batches, 1),
        "window_batch_ms_mean": round(delta("gatekeeper_decision_seconds_sum") / batches * 1000, 2)}
    prefix = 'gatekeeper_batch_stage_seconds_count{stage="'
    stages = {}
    for name in after:
        if name.startswith(prefix):
            stage = name[len(prefix):-2]
            count = delta(name)
            total = delta(f'gatekeeper_batch_stage_seconds_sum{{stage="{stage}"}}')
            if count > 0:
                stages[stage] = round(total / count * 1000, 2)
    if stages:
        out["stage_ms_mean"] = stages
    return out


async def read_arrivals(watcher: OffsetWatcher, starts: dict[Any, int], window: Window
                        ) -> Counter[str]:
    """Read the output records appended since ``starts``; each measured request's latency
    is its output's LogAppendTime minus the time the harness sent it."""
    consumer = watcher.consumer
    ends = await watcher.ends()
    kinds: Counter[str] = Counter()
    for tp, end in ends.items():
        start = starts.get(tp, 0)
        if end <= start:
            continue
        consumer.assign([tp])
        consumer.seek(tp, start)
        position = start
        while position < end:
            batches = await consumer.getmany(tp, timeout_ms=5000, max_records=5000)
            records = batches.get(tp, [])
            if not records:
                break
            for record in records:
                position = record.offset + 1
                if record.offset >= end:
                    break
                kind = tp.topic.rsplit(".", 1)[-1]
                kinds[kind] += 1
                try:  # the passthrough forwards malformed messages too
                    body = orjson.loads(record.value)
                    rid = body["request_id"] if kind == "allowed" else \
                        body["request"]["request_id"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
                t0 = window.pending.pop(rid, None)
                if t0 is not None:
                    window.latencies.append(record.timestamp - t0 * 1000)
    return kinds


async def offer(window: Window, mix: Traffic, producer: Any, topic: str, seen: set[str],
                app: str, watcher: OffsetWatcher, base: int) -> None:
    """Send the mix at ``window.rate`` for warm-up + seconds; measure after the warm-up."""
    total = window.warmup + window.seconds
    # generated beforehand: while it measures, the harness only sends (2 cores are shared)
    planned = []
    for _ in range(int(total * window.rate) + 1):
        key, value = mix.message()
        planned.append((key, value, mix.last_request_id))
    started = time.monotonic()
    count = 0
    shown, done = 0.0, 0
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= total:
            break
        due = min(int(elapsed * window.rate), len(planned)) - count
        for _ in range(max(0, due)):
            key, value, rid = planned[count]
            t0 = time.time()
            future = await producer.send(topic, value, key=key)
            if elapsed >= window.warmup:
                future.add_done_callback(
                    lambda _f, t0=t0: window.produce.append((time.time() - t0) * 1000))
            count += 1
            if rid is not None and rid not in seen:  # re-sends are not measured
                seen.add(rid)
                if elapsed >= window.warmup:
                    window.pending[rid] = t0
        if elapsed - shown >= 1.0:  # a cheap look at the outputs, once a second
            shown = elapsed
            done = sum((await watcher.ends()).values()) - base
        P.update(f"latency ({app}) at {window.rate:,.0f}/s: {count:,} sent, "
                 f"{done:,} decided")
        await asyncio.sleep(0.002)
    window.sent = count
    window.send_rps = count / (time.monotonic() - started)


def window_line(window: Window, app: str) -> str:
    lat = percentiles(sorted(window.latencies))
    return (f"latency ({app}) at {window.rate:,.0f}/s: p50 {lat['p50']} ms, p95 {lat['p95']} ms, "
            f"p99 {lat['p99']} ms, max {lat['max']} ms ({len(window.latencies):,} requests"
            + (f", {len(window.pending):,} not decided" if window.pending else "") + ")")
