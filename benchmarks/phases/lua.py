"""The decide script alone vs a plain SET, pipelined (redis-py as the worker, and
redis-benchmark when installed); one batch's whole Gate.decide in-process."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from clients import commandstats, flush_db, redis_cpu, redis_info
from harness import HASH_KEY, P, Run

from phases.common import wait_idle


def plan_decide_calls(run: Run, store: Any, lane: str, count: int, now: datetime
                      ) -> tuple[Any, list[Any], list[Any]]:
    """``count`` requests of the benchmark mix (seed 11) planned against empty state into the
    worker's decide calls: (gate, requests, calls), built by counters/wire.py as the gate
    builds them (the lua and durability phases share it)."""
    from gatekeeper.counters import wire
    from gatekeeper.counters.keys import Hasher
    from gatekeeper.gate import Gate, content_hash
    from gatekeeper.plan import make_plan
    from gatekeeper.policy import load_policy
    from gatekeeper.state import state_from_hash
    from gatekeeper.traffic import BENCH, Traffic
    from gatekeeper.validate import parse_request

    gate = Gate(load_policy("default"), store, Hasher(HASH_KEY.encode()))
    mix = Traffic(BENCH, run.cfg.debtors, seed=11, run=run.prefix + lane)
    empty = state_from_hash({})
    requests: list[Any] = []
    P.update(f"{lane}: planning requests")
    while len(requests) < count:
        requests.append(parse_request(mix.request(now)[1]))
    calls = [wire.decide_call(make_plan(r, gate.policy, empty, now, gate.hasher),
                              content_hash(r), counters_ttl=gate.counters_ttl,
                              decision_seconds=gate.ttls.decision_seconds) for r in requests]
    return gate, requests, calls


async def phase_lua(run: Run) -> dict[str, Any]:
    """The decide script alone, pipelined in batches of 500 from redis-py (as the worker),
    against pipelined SETs from the same client; then the same pair from redis-benchmark."""
    from gatekeeper.counters.keys import marker_for
    from gatekeeper.counters.store import Store
    from gatekeeper.memory import initialize_empty

    cfg = run.cfg
    db = cfg.redis_db + 1
    url = run.stack.redis_url(db)
    await flush_db(url)
    store = Store.from_url(url)
    now = datetime.now(UTC)
    gate, requests, calls = plan_decide_calls(run, store, "lua", cfg.lua_calls, now)
    await store.load_scripts()
    await initialize_empty(store, HASH_KEY.encode(), purpose="benchmark")
    batch = 500
    result: dict[str, Any] = {"pipeline": batch, "calls": len(calls)}
    await wait_idle(run, "lua")
    try:
        info0 = await redis_info(url)
        started = time.perf_counter()
        statuses: Counter[str] = Counter()
        for i in range(0, len(calls), batch):
            for answer in await store.run(calls[i:i + batch]):
                statuses[str(answer[0])] += 1
            P.update(f"lua: {i + batch:,}/{len(calls):,} decide calls")
        seconds = time.perf_counter() - started
        info1 = await redis_info(url)
        result["lua_decisions_per_s"] = round(len(calls) / seconds)
        result["lua_statuses"] = dict(statuses)
        stats = commandstats(info0, info1).get("evalsha", {})
        result["lua_server_usec_per_call"] = stats.get("usec_per_call")
        result["lua_redis_cpu_us_per_call"] = round((redis_cpu(info1) - redis_cpu(info0))
                                                    * 1e6 / len(calls), 2)

        value = b"x" * 100
        sets = len(calls)
        info0 = await redis_info(url)
        started = time.perf_counter()
        for i in range(0, sets, batch):
            await store.read([("SET", f"bench:set:{j}", value)
                              for j in range(i, min(sets, i + batch))])
            P.update(f"lua: {i + batch:,}/{sets:,} SETs")
        seconds = time.perf_counter() - started
        info1 = await redis_info(url)
        result["redis_set_pipeline_per_s"] = round(sets / seconds)
        stats = commandstats(info0, info1).get("set", {})
        result["set_server_usec_per_call"] = stats.get("usec_per_call")
        result["set_redis_cpu_us_per_call"] = round((redis_cpu(info1) - redis_cpu(info0))
                                                    * 1e6 / sets, 2)
        # one batch's whole Gate.decide (read + plan + decide + record), the Python cost
        # included: the worker without Kafka
        await flush_db(url)
        await store.load_scripts()
        await initialize_empty(store, HASH_KEY.encode(), purpose="benchmark")
        decide_requests = requests[: min(len(requests), 20_000)]
        started = time.perf_counter()
        for i in range(0, len(decide_requests), batch):
            await gate.decide(decide_requests[i:i + batch], now)
            P.update(f"lua: Gate.decide {i + batch:,}/{len(decide_requests):,}")
        result["gate_decide_per_s"] = round(len(decide_requests)
                                            / (time.perf_counter() - started))
        index = next((i for i, c in enumerate(calls)
                      if c.script == "decide" and c.args[1] == "decide"), None)
        if index is not None:
            # one real call, its debtor and request id made placeholders: every call of
            # redis-benchmark is a new request of a new debtor (the allowed path, mostly)
            request = requests[index]

            def swap(value: Any, debtor: str, rid: str) -> str:
                return str(value).replace(request.debtor_id, debtor).replace(
                    request.request_id, rid)

            call = calls[index]
            # the slot's memory marker goes after the keys, as Store.run sends it; one
            # Redis holds every slot's marker, so the probe's serves every random debtor
            assert store.epoch is not None  # (verified by initialize_empty)
            marker = marker_for(swap(call.keys[0], "probe", "probe-1"), store.epoch,
                                cluster=store.cluster)
            probe = await store.client.evalsha(
                store.shas["decide"], len(call.keys) + 1,
                *[swap(k, "probe", "probe-1") for k in call.keys], marker,
                *[swap(a, "probe", "probe-1") for a in call.args])
            if isinstance(probe, list) and probe and probe[0] in ("allowed", "blocked"):
                command = ["EVALSHA", store.shas["decide"], str(len(call.keys) + 1),
                           *[swap(k, "__rand_int__", "__rand_int__") for k in call.keys],
                           marker,
                           *[swap(a, "__rand_int__", "__rand_int__") for a in call.args]]
                result.update(redis_benchmark(run, db, command))
            else:
                result["redis_benchmark"] = {"error": f"probe call answered {probe!r:.200}"}
    finally:
        await flush_db(url)
        await store.close()
    rb = result.get("redis_benchmark") or {}
    P.done(f"lua: decide {result['lua_decisions_per_s']:,}/s vs SET "
           f"{result['redis_set_pipeline_per_s']:,}/s (redis-py, pipelines of {batch}); "
           f"Gate.decide {result['gate_decide_per_s']:,}/s"
           + (f"; redis-benchmark decide {rb.get('decide_per_s', 0):,}/s vs SET "
              f"{rb.get('set_per_s', 0):,}/s" if rb else ""))
    return result


def redis_benchmark(run: Run, db: int, decide: list[str]) -> dict[str, Any]:
    """Server-bound figures from the C client: the EVALSHA decide command given (with
    __rand_int__ placeholders) and a SET of 100 bytes, same pipelining and clients."""
    tool = shutil.which("redis-benchmark")
    if not tool:
        return {}
    host, port = run.stack.redis_base.removeprefix("redis://").rsplit(":", 1)
    n = 200_000 if not run.cfg.quick else 50_000
    common = [tool, "-h", host, "-p", port, "--dbnum", str(db), "-n", str(n), "-c", "4",
              "-P", "100", "-r", "100000000", "--csv"]
    out: dict[str, Any] = {"requests": n, "clients": 4, "pipeline": 100}
    for name, command in (("decide", decide),
                          ("set", ["SET", "bench:rb:__rand_int__", "x" * 100])):
        P.update(f"lua: redis-benchmark {name}")
        proc = subprocess.run(common + command, capture_output=True, timeout=300)
        # --csv does not escape quotes inside a custom command's name: count from the right
        # ("test","rps","avg","min","p50","p95","p99","max")
        lines = [line for line in proc.stdout.decode().splitlines()
                 if line.startswith('"') and not line.startswith('"test"')]
        if proc.returncode == 0 and lines:
            with contextlib.suppress(ValueError, IndexError):
                out[f"{name}_per_s"] = round(float(lines[-1].rsplit('","', 7)[1]))
        else:
            out[f"{name}_error"] = proc.stderr.decode(errors="replace")[-300:]
    return {"redis_benchmark": out}
