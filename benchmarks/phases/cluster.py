"""The worker on a three-master Redis Cluster against the same worker on one Redis.

``scripts/stack cluster up`` (``GK_CLUSTER_PORTS``, default 7001-7003) starts the cluster
(idempotent; left running). The same requests (``cluster_messages``: 20,000, quick 5,000,
a mix of their own) are produced once to an input topic of their own; then one worker
process on each store in turn, each with its own consumer group, flushed store and output
topics, moves all of them. No debtor events are seeded, so both runs do the same work.
Reported: throughput of each, their ratio, and the per-node pipelines per request batch
(the target is one pipeline per node per batch: the cluster's three, one Redis's one).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from typing import Any

from clients import create_topics, flush_db, produce
from harness import ROOT, P, Run, free_port, start_apps, stop_apps, wait_ready, worker_argv

from phases.common import pipelines_by_agent, saturate, wait_idle

LANES = ("c1", "c3")  # one Redis, the cluster


def cluster_up() -> str:
    P.update("cluster: scripts/stack cluster up")
    done = subprocess.run([str(ROOT / "scripts" / "stack"), "cluster", "up"],
                          capture_output=True, text=True, timeout=180, cwd=str(ROOT))
    if done.returncode != 0:
        raise RuntimeError(f"scripts/stack cluster up failed: {done.stderr[-500:]}")
    found = re.search(r"export GATEKEEPER_REDIS=(\S+)", done.stdout)
    if not found:
        raise RuntimeError(f"scripts/stack cluster up printed no URL: {done.stdout[-300:]}")
    return found.group(1)


async def flush_cluster(url: str) -> None:
    from redis.asyncio.cluster import RedisCluster

    client = RedisCluster.from_url("redis://" + url.removeprefix("redis+cluster://"))
    try:
        await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    finally:
        await client.aclose()


async def phase_cluster(run: Run) -> dict[str, Any]:
    from gatekeeper.traffic import BENCH, Traffic

    count = run.cfg.cluster_messages
    cluster_url = cluster_up()
    source = run.prefix + "cl.contact.requests"
    topics = [source] + [t for lane in LANES for t in run.topics(lane).values()]
    await create_topics(run.stack.bootstrap, topics)
    mix = Traffic(BENCH, run.cfg.debtors, seed=2027, run=run.prefix + "cl")
    await produce(run.stack.bootstrap, source, [mix.message() for _ in range(count)],
                  "cluster: pre-producing")
    result: dict[str, Any] = {"messages": count, "cluster": cluster_url}
    for lane, url, name in ((LANES[0], run.stack.redis_url(run.cfg.redis_db), "single"),
                            (LANES[1], cluster_url, "cluster")):
        if name == "cluster":
            await flush_cluster(url)
        else:
            await flush_db(url)
        result[name] = await _one(run, lane, url, source, count, name)
    if result["single"].get("rps") and result["cluster"].get("rps"):
        result["ratio_cluster_to_single"] = round(result["cluster"]["rps"]
                                                  / result["single"]["rps"], 3)
    P.done(f"cluster: {result['cluster']['rps']:,}/s on 3 masters vs "
           f"{result['single']['rps']:,}/s on one Redis = "
           f"{result.get('ratio_cluster_to_single', 0):.0%}; pipelines per node per batch "
           f"{result['cluster'].get('node_pipelines_per_batch')} vs "
           f"{result['single'].get('node_pipelines_per_batch')}")
    return result


async def _one(run: Run, lane: str, url: str, source: str, count: int, name: str
               ) -> dict[str, Any]:
    from clients import scrape_all

    port = free_port()
    env = {**run.app_env(lane, requests=source, metrics_port=port), "GATEKEEPER_REDIS": url}
    await wait_idle(run, f"cluster ({name})")
    child = start_apps(f"gatekeeper-worker-{name}", worker_argv(), [env], run.log_dir)
    try:
        await wait_ready(child, ["gatekeeper ready", "Worker]: Ready"])
        before = scrape_all([port])
        result = await saturate(run, f"cluster ({name} Redis)", child,
                                [run.topics(lane)[k] for k in ("allowed", "review", "invalid")],
                                count)
        await asyncio.sleep(0.3)
        after = scrape_all([port])
    finally:
        stop_apps(child)

    def delta(metric: str) -> float:
        return after.get(metric, 0.0) - before.get(metric, 0.0)

    batches = delta("gatekeeper_batch_size_count")
    by_agent = pipelines_by_agent(delta)
    if batches:
        result["batches"] = int(batches)
        # the request batches' own (the other agents' and the release loop's apart)
        result["redis_round_trips_per_batch"] = round(by_agent["request_trips"] / batches, 3)
        result["node_pipelines_per_batch"] = round(
            by_agent["request_node_pipelines"] / batches, 3)
        result["release_loop_node_pipelines"] = int(by_agent["release_loop_node_pipelines"])
    return result
