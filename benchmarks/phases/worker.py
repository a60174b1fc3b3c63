"""The gatekeeper worker at saturation (default pack), with its Redis cost: round trips per
batch, Redis CPU and commands per decision, bytes per active debtor."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson
from clients import (
    commandstats,
    flush_db,
    key_breakdown,
    produce,
    redis_cpu,
    redis_info,
    scrape_all,
)
from harness import HASH_KEY, P, Run, free_port, start_apps, stop_apps, wait_ready, worker_argv

from phases.common import pipelines_by_agent, saturate, wait_idle

if TYPE_CHECKING:
    from gatekeeper.traffic import Traffic


async def seed_events(run: Run, mix: Traffic) -> set[str]:
    """Apply debtor events for a share of the book through the gate's own Lua."""
    from gatekeeper.counters.keys import Hasher
    from gatekeeper.counters.store import Store
    from gatekeeper.gate import Gate
    from gatekeeper.memory import initialize_empty
    from gatekeeper.policy import load_policy
    from gatekeeper.validate import event_from_dict

    store = Store.from_url(run.stack.redis_url(run.cfg.redis_db))
    try:  # a new empty working copy (the workers find it trusted, built with their key)
        await initialize_empty(store, HASH_KEY.encode(), purpose="benchmark")
        gate = Gate(load_policy("default"), store, Hasher(HASH_KEY.encode()))
        events = [event_from_dict(e) for e in mix.events(run.cfg.event_share)]
        for i in range(0, len(events), 500):
            await gate.apply_events(events[i:i + 500])
        return {e.debtor_id for e in events}
    finally:
        await store.close()


async def phase_gatekeeper(run: Run, mix: Traffic, debtors: set[str], *, lane: str = "gk",
                           workers: int | None = None, name: str = "gatekeeper worker"
                           ) -> dict[str, Any]:
    """``workers`` processes (default ``--workers``) on ``lane``'s topics, one group."""
    url = run.stack.redis_url(run.cfg.redis_db)
    workers = workers or run.cfg.workers
    messages = run.cfg.messages
    await flush_db(url)
    await asyncio.sleep(0.5)
    info_empty = await redis_info(url)
    if run.cfg.seed == "direct":
        seeded = await seed_events(run, mix)
    else:  # through the worker's own debtor.events topic, as in production
        events = mix.events(run.cfg.event_share)
        seeded = {e["debtor_id"] for e in events}
        await produce(run.stack.bootstrap, run.topics(lane)["events"],
                      [(e["debtor_id"].encode(), orjson.dumps(e)) for e in events],
                      "debtor events")
    info0 = await redis_info(url)
    ports = [free_port() for _ in range(workers)]
    topics = run.topics(lane)
    await wait_idle(run, name)
    child = start_apps(name.replace(" ", "-"), worker_argv(),
                       [run.app_env(lane, requests=run.input_topic, metrics_port=port)
                        for port in ports], run.log_dir)
    try:
        await wait_ready(child, ["gatekeeper ready", "Worker]: Ready"])
        metrics0 = scrape_all(ports)
        result = await saturate(run, name, child,
                                [topics[k] for k in ("allowed", "review", "invalid")],
                                messages)
        await asyncio.sleep(0.3)
        metrics1 = scrape_all(ports)
        info1 = await redis_info(url)
    finally:
        stop_apps(child)

    def delta(name: str) -> float:
        return metrics1.get(name, 0.0) - metrics0.get(name, 0.0)

    batches = delta("gatekeeper_batch_size_count")
    by_agent = pipelines_by_agent(delta)
    trips = delta("gatekeeper_bench_redis_round_trips_total")
    invalid = result["outputs"].get(f"{lane}.contact.invalid", 0)
    decisions = messages - invalid
    result["workers"] = workers

    commands = commandstats(info0, info1)
    active = debtors | seeded
    P.update("gatekeeper worker: measuring Redis memory by key kind")
    memory_delta = int(info1["used_memory"]) - int(info_empty["used_memory"])
    breakdown = await key_breakdown(url)
    counters_state = sum(breakdown.get(k, {}).get("estimated_bytes", 0)
                         for k in ("counters", "state"))
    result.update({
        "batches": int(batches),
        "mean_batch_size": round(delta("gatekeeper_batch_size_sum") / batches, 1)
        if batches else None,
        # the request agent's pipelines per request batch: every pipeline but those of the
        # events and outcomes agents and of the release loop (phases.common.OTHER_AGENTS,
        # RELEASE_LOOP: counted apart below); stale answers cost a re-plan
        "redis_round_trips": int(trips),
        "redis_round_trips_per_batch": round(by_agent["request_trips"] / batches, 3)
        if batches else None,
        "redis_round_trips_per_batch_incl_events": round(trips / batches, 3)
        if batches else None,
        "stale_answers": int(delta("gatekeeper_bench_stale_answers_total")),
        "events_round_trips": int(by_agent["other_agents_trips"]),
        "release_loop_round_trips": int(by_agent["release_loop_trips"]),
        "decisions": decisions,
        "redis_cpu_seconds": round(redis_cpu(info1) - redis_cpu(info0), 3),
        "redis_cpu_us_per_decision": round((redis_cpu(info1) - redis_cpu(info0)) * 1e6
                                           / max(decisions, 1), 1),
        "redis_commands_per_decision": round(sum(c["calls"] for c in commands.values())
                                             / max(decisions, 1), 2),
        "redis_commandstats": commands,
        "redis_reads_processed_per_batch": round(
            (int(info1["total_reads_processed"]) - int(info0["total_reads_processed"]))
            / batches, 2) if batches else None,
        "active_debtors": len(active),
        "redis_used_memory_delta": memory_delta,
        "redis_bytes_per_debtor": round(memory_delta / max(len(active), 1)),
        "redis_keys": breakdown,
        "redis_counters_state_bytes_per_debtor": round(counters_state / max(len(active), 1)),
        "worker_batch_seconds_mean": round(
            (metrics1.get("gatekeeper_decision_seconds_sum", 0)
             - metrics0.get("gatekeeper_decision_seconds_sum", 0)) / batches, 4)
        if batches else None,
    })
    P.done(f"gatekeeper worker: {result['redis_round_trips_per_batch']} Redis round trips per "
           f"batch ({int(batches):,} batches of {result['mean_batch_size']}), "
           f"{result['redis_cpu_us_per_decision']} us Redis CPU per decision, "
           f"{result['redis_bytes_per_debtor']:,} bytes per active debtor")
    return result
