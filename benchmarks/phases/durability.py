"""What Redis persistence costs gatekeeper's decide step: the decide.lua workload of the lua
phase with no persistence (the reference), AOF with ``appendfsync everysec`` (the stack's and
compose's default) and AOF with ``appendfsync always``, side by side in one run.

Each measurement gets a fresh redis-server of its own (the stack's binary, its data dir under
the stack dir: the same disk as the stack's AOF), fed the same planned calls: pipelines of
500 as a busy worker sends them, then one call at a time as a lightly loaded worker does
(where ``always`` pays an fsync per call). Modes take turns over a few rounds and each figure
is the median of its rounds, so a burst of other work on the machine hits all three alike.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clients import redis_cpu, redis_info
from harness import P, Run, free_port, percentiles, start_child, stop_child

from phases.common import wait_idle
from phases.lua import plan_decide_calls

MODES = ("no", "everysec", "always")  # "no": appendonly no (and no RDB): nothing persisted
PIPELINE = 500
LOSES = {
    "no": "everything since the server started (no persistence)",
    "everysec": "up to about the last second of writes, on a crash of redis-server or host",
    "always": "nothing acknowledged (each write is fsynced before the reply)",
}


def server_argv(mode: str, port: int, data: Path) -> list[str]:
    aof = ["--appendonly", "no"] if mode == "no" else [
        "--appendonly", "yes", "--appendfsync", mode]
    return ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            *aof, "--dir", str(data), "--daemonize", "no", "--protected-mode", "yes"]


async def measure(run: Run, mode: str, calls: list[Any], singles: list[Any], where: Path
                  ) -> dict[str, float]:
    """One fresh server in ``mode``: ``calls`` pipelined, then ``singles`` one at a time."""
    from gatekeeper.counters.store import Store
    from gatekeeper.memory import initialize_empty

    data = where / mode
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    port = free_port()
    child = start_child(f"redis-{mode}", server_argv(mode, port, data), {}, run.log_dir)
    url = f"redis://127.0.0.1:{port}/0"
    store = Store.from_url(url)
    try:
        for _ in range(100):
            try:
                await store.ping()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if not child.alive:
                    raise RuntimeError(f"redis-server ({mode}) exited:\n{child.tail()}") from None
                await asyncio.sleep(0.05)
        await store.load_scripts()
        await initialize_empty(store, b"durability", purpose="benchmark")
        info0 = await redis_info(url)
        started = time.perf_counter()
        for i in range(0, len(calls), PIPELINE):
            await store.run(calls[i:i + PIPELINE])
        seconds = time.perf_counter() - started
        info1 = await redis_info(url)
        latencies = []
        for call in singles:
            t0 = time.perf_counter()
            await store.run([call])
            latencies.append((time.perf_counter() - t0) * 1000)
        single_seconds = sum(latencies) / 1000
        info2 = await redis_info(url)
        latencies.sort()
        lat = percentiles(latencies)
        return {"decisions_per_s": len(calls) / seconds,
                "redis_cpu_us_per_call": (redis_cpu(info1) - redis_cpu(info0)) * 1e6 / len(calls),
                "single_per_s": len(singles) / single_seconds,
                "single_p50_ms": lat["p50"] or 0.0, "single_p99_ms": lat["p99"] or 0.0,
                "aof_bytes_per_call": aof_bytes(data) / (len(calls) + len(singles)),
                "aof_delayed_fsync": float(info2.get("aof_delayed_fsync", 0))}
    finally:
        await store.close()
        stop_child(child)
        shutil.rmtree(data, ignore_errors=True)


def aof_bytes(data: Path) -> int:
    return sum(f.stat().st_size for f in data.rglob("*.aof") if f.is_file())


async def phase_durability(run: Run) -> dict[str, Any]:
    from gatekeeper.counters.store import Store

    cfg = run.cfg
    rounds = 2 if cfg.quick else 3
    count = min(cfg.lua_calls, 20_000)
    singles = min(count // 2, 1_000 if cfg.quick else 3_000)
    planner = Store.from_url(run.stack.redis_url(cfg.redis_db + 1))  # never sent a command
    try:
        _, _, calls = plan_decide_calls(run, planner, "durability", count, datetime.now(UTC))
    finally:
        await planner.close()
    # the singles are other requests than the pipelined ones (a repeat would be a replay)
    pipelined, tail = calls[: count - singles], calls[count - singles:]
    where = run.stack.stack_dir / "bench-durability"
    figures: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    await wait_idle(run, "durability")
    try:
        for r in range(rounds):
            for mode in MODES:
                P.update(f"durability: round {r + 1}/{rounds}, appendfsync {mode}")
                figures[mode].append(await measure(run, mode, pipelined, tail, where))
    finally:
        shutil.rmtree(where, ignore_errors=True)
    result: dict[str, Any] = {"pipeline": PIPELINE, "calls": len(pipelined),
                              "single_calls": singles, "rounds": rounds,
                              "disk": str(where.parent), "modes": {}}
    for mode in MODES:
        runs = figures[mode]
        entry: dict[str, Any] = {key: round(statistics.median(r[key] for r in runs), 2)
                                 for key in runs[0]}
        entry["decisions_per_s"] = round(entry["decisions_per_s"])
        entry["single_per_s"] = round(entry["single_per_s"])
        entry["rounds_decisions_per_s"] = [round(r["decisions_per_s"]) for r in runs]
        entry["loses_on_crash"] = LOSES[mode]
        result["modes"][mode] = entry
    base = result["modes"]["no"]["decisions_per_s"]
    for mode in MODES:
        entry = result["modes"][mode]
        entry["vs_no_persistence"] = round(entry["decisions_per_s"] / base, 3) if base else None
    m = result["modes"]
    P.done("durability: decide.lua pipelined " + " / ".join(
        f"{mode} {m[mode]['decisions_per_s']:,}/s" for mode in MODES)
        + "; one at a time p99 " + " / ".join(f"{m[mode]['single_p99_ms']} ms" for mode in MODES))
    return result
