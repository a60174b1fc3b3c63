"""The same store tests against a three-master Redis Cluster (``scripts/stack cluster up``):
every debtor's keys share one slot, so each script still runs atomically on one node."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from redis.cluster import RedisCluster
from services import skip_or_fail
from store_contract import *  # noqa: F403 - the contract suite, with the cluster's redis_url
from test_store import (  # noqa: F401 - collected here again, with the cluster's redis_url
    test_keys_hold_no_phone_number_and_all_expire,
    test_many_processes_on_one_debtor_allow_exactly_the_limit,
    test_one_batch_sees_its_own_requests_in_order,
    test_scripts_are_reloaded_after_the_cache_is_flushed,
)
from test_store_contract_redis import backend  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
PORTS = os.environ.get("GK_CLUSTER_PORTS", "7001 7002 7003").split()


@pytest.fixture(scope="session")
def cluster_url() -> str:
    run = subprocess.run([str(ROOT / "scripts" / "stack"), "cluster", "up"],
                         capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        message = f"cannot start the Redis Cluster: {run.stderr.strip()[-500:]}"
        skip_or_fail(message)
    return f"redis+cluster://127.0.0.1:{PORTS[0]}"


@pytest.fixture
def redis_url(cluster_url: str) -> str:
    client = RedisCluster.from_url("redis://" + cluster_url.removeprefix("redis+cluster://"))
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    client.close()
    return cluster_url


async def test_the_worker_runs_against_the_cluster(
        cluster_url: str, redis_url: str, tmp_path: Path, create_topics, topic_prefix: str,
        app_id: str, stack: object, bootstrap: str) -> None:
    from fault_harness import FAULT_PACK, OUTPUTS, Traffic, check_invariants, stream, wait_outputs
    from worker_process import WorkerProcess, worker_env

    await create_topics("contact.requests", "debtor.events", "contact.outcomes", *OUTPUTS,
                        partitions=2)
    policy = tmp_path / "faults.yaml"
    policy.write_text(FAULT_PACK)
    env = worker_env(stack.broker_url, cluster_url, topic_prefix, app_id,  # type: ignore[attr-defined]
                     policy, "k")
    worker = WorkerProcess(tmp_path / "worker.log", env).start()
    try:
        await stream(bootstrap, topic_prefix + "contact.requests", Traffic(seed=9).batch(1500))
        await wait_outputs(bootstrap, topic_prefix, 1500, alive=lambda: worker.alive)
        report = await check_invariants(bootstrap, topic_prefix, str(policy))
        assert report.ok, report.summary()
        assert report.allowed > 0 and report.review > 0
    finally:
        worker.stop()


async def test_a_wipe_reaches_every_node_and_markers_cover_every_slot(redis_url: str) -> None:
    from gatekeeper.counters import guard
    from gatekeeper.counters.keys import SLOTS, counters_key, marker_key
    from gatekeeper.counters.store import Store

    client = RedisCluster.from_url("redis://" + redis_url.removeprefix("redis+cluster://"),
                                   decode_responses=True)
    for i in range(300):  # debtors on every node
        client.hset(counters_key(f"d{i}"), "x", 1)
    store = Store.from_url(redis_url)
    epoch = await guard.begin_rebuild(store)
    left = [k for k in client.scan_iter("gk:*") if not k.startswith("gk:{~m")]
    assert left == []
    markers = [marker_key(slot, epoch) for slot in range(0, SLOTS, 97)]
    assert all(client.exists(k) for k in markers)
    client.close()
    await store.close()
