"""One pipeline per node per batch on a three-master Redis Cluster (``scripts/stack cluster
up``): a batch's calls are grouped by the node owning their slot and sent to every node at
once, each pipeline with its node's run-id probe; the answers keep the batch's order."""

from __future__ import annotations

from collections import Counter

from store_support import trusted_store
from test_store import HASHER, req
from test_store_cluster import cluster_url, redis_url  # noqa: F401 - the cluster fixtures

from gatekeeper.counters import pipeline
from gatekeeper.gate import Gate
from gatekeeper.policy import load_policy


async def test_a_batch_goes_as_one_pipeline_per_node_and_keeps_its_order(
        redis_url: str, monkeypatch) -> None:  # noqa: F811 # type: ignore[no-untyped-def]
    store = await trusted_store(redis_url)
    sent: Counter[str] = Counter()
    original = pipeline._on_node

    async def counted(node, commands, timeout, probe):  # type: ignore[no-untyped-def]
        sent[node.name] += 1
        assert probe and commands  # every node's pipeline carries its run-id probe
        return await original(node, commands, timeout, probe)

    monkeypatch.setattr(pipeline, "_on_node", counted)
    try:
        gate = Gate(load_policy("default"), store, HASHER)
        # 300 debtors spread over the slots (so over the three masters); each debtor's third
        # call of the day in one batch is refused by the one-call-per-day rule, in order
        requests = [req(f"{d}-{n}", debtor_id=f"debtor-{d}") for d in range(100)
                    for n in range(3)]
        before = store.round_trips
        decisions = await gate.decide(requests, req(0).requested_at)
        assert store.round_trips - before == 1
        assert len(sent) == 3 and set(sent.values()) == {1}
        assert [d["decision"] for d in decisions] == ["allowed", "blocked", "blocked"] * 100
        assert [d["request_id"] for d in decisions] == [r.request_id for r in requests]
    finally:
        await store.close()
