"""What only a real redis-server shows: exact counts with several processes, script reload
after the cache is lost, keys and their expiry, one round trip per batch. What every store
must do is in tests/store_contract.py (run against Redis by test_store_contract_redis.py)."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

import orjson
import pytest
import redis
from store_support import trusted_store

from gatekeeper.counters.keys import (
    META_KEY,
    SLOTS,
    Hasher,
    counters_key,
    marker_slots,
    state_key,
)
from gatekeeper.gate import Gate
from gatekeeper.policy import load_policy
from gatekeeper.timeutil import parse_rfc3339
from gatekeeper.validate import parse_event, request_from_dict

NOON = parse_rfc3339("2026-03-02T17:00:00Z")
HASHER = Hasher(b"store-test")
CAP_PACK = """
pack: cap
title: a hot debtor's daily cap, counted only for real contacts
applies_to: ["*"]
rules:
  - id: calls-per-day
    kind: limit
    citation: test
    channels: [call]
    max: {max}
    window: {{calendar: day}}
    counts: [no_answer, voicemail, conversation, delivered, failed]
"""


def sync_client(url: str) -> redis.Redis:
    """A plain client for assertions; a cluster client for ``redis+cluster://`` URLs."""
    if url.startswith("redis+cluster://"):
        from redis.cluster import RedisCluster

        return RedisCluster.from_url("redis://" + url.removeprefix("redis+cluster://"),
                                     decode_responses=True)  # type: ignore[return-value]
    return redis.Redis.from_url(url, decode_responses=True)


def req(i: int | str, **extra: object):  # type: ignore[no-untyped-def]
    body = {"request_id": f"r-{i}", "debtor_id": "hot", "channel": "call",
            "destination": "+12125550100", "requested_at": "2026-03-02T17:00:00Z",
            "debtor": {"timezone": "America/New_York"}}
    body.update(extra)
    return request_from_dict(orjson.loads(orjson.dumps(body)))


def cap_policy(tmp_path: Path, limit: int) -> str:
    path = tmp_path / "cap.yaml"
    path.write_text(CAP_PACK.format(max=limit))
    return str(path)


def _hammer(url: str, policy: str, worker: int, count: int, queue: multiprocessing.Queue) -> None:
    async def run() -> list[str]:
        gate = Gate(load_policy([policy]), await trusted_store(url), HASHER)
        results = []
        for start in range(0, count, 5):  # batches of 5, pipelined
            batch = [req(f"{worker}-{i}") for i in range(start, start + 5)]
            results += [d["decision"] for d in await gate.decide(batch, NOON)]
        await gate.store.close()
        return results

    queue.put(asyncio.run(run()))


async def _prepare(url: str) -> None:
    await (await trusted_store(url)).close()


def test_many_processes_on_one_debtor_allow_exactly_the_limit(redis_url: str,
                                                              tmp_path: Path) -> None:
    policy = cap_policy(tmp_path, 25)
    asyncio.run(_prepare(redis_url))  # one empty working copy, before the workers start
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_hammer, args=(redis_url, policy, w, 40, queue))
               for w in range(4)]
    for process in workers:
        process.start()
    decisions = [d for _ in workers for d in queue.get(timeout=60)]
    for process in workers:
        process.join(10)
    assert len(decisions) == 160
    assert decisions.count("allowed") == 25
    client = sync_client(redis_url)
    counts = {k: v for k, v in client.hgetall(counters_key("hot")).items() if "|" in k}
    assert list(counts.values()) == ["25"]


async def test_one_batch_sees_its_own_requests_in_order(redis_url: str, tmp_path: Path) -> None:
    gate = Gate(load_policy([cap_policy(tmp_path, 3)]), await trusted_store(redis_url), HASHER)
    decisions = await gate.decide([req(i) for i in range(6)] + [req(0)], NOON)
    assert [d["decision"] for d in decisions] == ["allowed"] * 3 + ["blocked"] * 3 + ["allowed"]
    assert decisions[-1] == decisions[0]
    await gate.store.close()


async def test_scripts_are_reloaded_after_the_cache_is_flushed(redis_url: str) -> None:
    gate = Gate(load_policy("default"), await trusted_store(redis_url), HASHER)
    await gate.decide([req(1)], NOON)
    await gate.store.client.script_flush()
    three_hours_later = parse_rfc3339("2026-03-02T20:00:00Z")  # default's gap between calls
    (decision,) = await gate.decide([req(2, destination="+12125550111")], three_hours_later)
    assert decision["decision"] == "allowed"
    (replay,) = await gate.decide([req(1)], NOON)
    assert replay["decision"] == "allowed"
    await gate.store.close()


async def test_keys_hold_no_phone_number_and_all_expire(redis_url: str) -> None:
    gate = Gate(load_policy("default"), await trusted_store(redis_url), HASHER)
    await gate.decide([req(1), req(2)], NOON)
    await gate.apply_events([parse_event(orjson.dumps({
        "event_id": "e", "debtor_id": "hot", "type": "opt_out", "channel": "sms",
        "destination": "+12125550100", "occurred_at": "2026-03-01T00:00:00Z"}))])
    client = sync_client(redis_url)
    keys = list(client.scan_iter("*"))  # every node's keys, also on a cluster
    memory = [k for k in keys if k == META_KEY or k.startswith("gk:{~m")]
    # the meta hash and the markers, kept forever: one per slot on a cluster, one on one node
    assert len(memory) == len(marker_slots(gate.store.cluster)) + 1
    assert len(memory) == (SLOTS + 1 if gate.store.cluster else 2)
    assert all(client.ttl(k) == -1 for k in memory[:50])
    keys = [k for k in keys if k not in memory]
    assert sorted(keys) == sorted([counters_key("hot"), state_key("hot")])
    for key in keys:
        assert client.ttl(key) > 0, key
        assert "2125550100" not in key
        if client.type(key) == "hash":
            assert not any("2125550100" in f for f in client.hkeys(key)), key
    await gate.store.close()


@pytest.mark.parametrize("debtor", ["a{b}c", "}x", "plain"])
def test_every_key_of_a_debtor_shares_one_hash_tag(debtor: str) -> None:
    from redis.crc import key_slot

    keys = [counters_key(debtor), state_key(debtor)]
    assert len({key_slot(k.encode()) for k in keys}) == 1


async def test_a_replay_rebuilds_the_identical_decision(redis_url: str) -> None:
    from datetime import timedelta

    gate = Gate(load_policy("default"), await trusted_store(redis_url), HASHER)
    odd = NOON + timedelta(microseconds=123_456)
    first = await gate.decide([req(1), req(2), req(3, channel="sms")], odd)
    fresh = Gate(load_policy("default"), await trusted_store(redis_url), HASHER)  # no cache
    again = await fresh.decide([req(1), req(2), req(3, channel="sms")], odd + timedelta(hours=1))
    assert again == first
    assert [d["decision"] for d in first] == ["allowed", "blocked", "blocked"]
    await gate.store.close()
    await fresh.store.close()


async def test_a_batch_costs_one_round_trip_once_states_are_known(redis_url: str) -> None:
    gate = Gate(load_policy("default"), await trusted_store(redis_url), HASHER)
    batch = [req(i, debtor_id=f"d{i}") for i in range(50)]
    before = gate.store.round_trips
    await gate.decide(batch, NOON)  # no debtor has state: one round trip
    assert gate.store.round_trips - before == 1
    def hardship(i: int) -> object:
        return parse_event(orjson.dumps({
            "event_id": f"e{i}", "debtor_id": f"d{i}", "type": "hardship",
            "data": {"on": True}, "occurred_at": "2026-03-01T00:00:00Z"}))

    other = Gate(load_policy("default"), await trusted_store(redis_url), HASHER)  # another worker
    await other.apply_events([hardship(i) for i in range(10)])
    before = gate.store.round_trips
    await gate.decide([req(100 + i, debtor_id=f"d{i}") for i in range(50)], NOON)
    assert gate.store.round_trips - before == 2  # ten states changed: those go twice
    before = gate.store.round_trips
    await gate.decide([req(200 + i, debtor_id=f"d{i}") for i in range(50)], NOON)
    assert gate.store.round_trips - before == 1  # now known
    await gate.apply_events([hardship(i) for i in range(10, 20)])  # this worker's events
    before = gate.store.round_trips
    decisions = await gate.decide([req(300 + i, debtor_id=f"d{i}") for i in range(50)], NOON)
    assert gate.store.round_trips - before == 1  # it planned from the states they left
    assert all(d["decision"] == "blocked" for d in decisions[10:20])  # hardship spacing
    await other.store.close()
    await gate.store.close()


async def test_a_debtor_planned_in_zones_a_day_apart_keeps_every_live_counter(
        redis_url: str, tmp_path: Path) -> None:
    """At 14:00 UTC it is 13:00 on March 2 at UTC-1 but 01:00 on March 3 at UTC+11: the
    second request's 'yesterday' is the first one's 'today', which must not be pruned."""
    from datetime import timedelta

    gate = Gate(load_policy([cap_policy(tmp_path, 1)]), await trusted_store(redis_url), HASHER)
    when = NOON - timedelta(hours=3)  # 14:00 UTC
    west = {"timezone": "Etc/GMT+1"}
    east = {"timezone": "Etc/GMT-11"}
    (first,) = await gate.decide([req(1, debtor=west)], when)
    (second,) = await gate.decide([req(2, debtor=east)], when)
    (third,) = await gate.decide([req(3, debtor=west)], when)
    assert [first["decision"], second["decision"], third["decision"]] == [
        "allowed", "allowed", "blocked"]
    await gate.store.close()
