"""The gate never forgets what binds it: a lost Redis is noticed, held, and rebuilt from the
Kafka record before anything is decided again (gatekeeper.memory, counters/guard.py,
gatekeeper.restore), and events acknowledged before a request apply to it
(stream/catchup.py). Real Kafka, real redis-server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import kafka_helpers
import orjson
import pytest
import redis
from packs import plain_pack

from gatekeeper import restore
from gatekeeper.counters import guard
from gatekeeper.counters.keys import Hasher
from gatekeeper.counters.store import Store
from gatekeeper.errors import StoreLost, StoreUnavailable
from gatekeeper.gate import Gate
from gatekeeper.memory import Keeper, initialize_empty
from gatekeeper.policy import load_policy
from gatekeeper.redis_server import PrivateRedis
from gatekeeper.settings import TOPIC_DEFAULTS, Settings
from gatekeeper.stream.catchup import EventsCatchUp
from gatekeeper.stream.process import process_events, process_requests
from gatekeeper.stream.routing import Incoming
from gatekeeper.validate import parse_event, parse_request

KEY = b"memory-test-key"
PACK = plain_pack("memory", "what must never be forgotten")
RECORD = ("requests", "events", "decisions", "outcomes")


def request(rid: str, debtor: str, number: str, now: datetime) -> dict[str, Any]:
    return {"request_id": rid, "debtor_id": debtor, "channel": "call", "destination": number,
            "requested_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "debtor": {"timezone": "Etc/UTC"}}


def event(eid: str, debtor: str, kind: str, now: datetime, **extra: Any) -> dict[str, Any]:
    return {"event_id": eid, "debtor_id": debtor, "type": kind,
            "occurred_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), **extra}


def incoming(topic: str, values: list[dict[str, Any]]) -> list[Incoming]:
    return [Incoming(v["debtor_id"].encode(), orjson.dumps(v), topic, 0, i)
            for i, v in enumerate(values)]


@pytest.fixture
def settings(stack: Any, topic_prefix: str, redis_url: str, tmp_path: Path) -> Settings:
    policy = tmp_path / "memory.yaml"
    policy.write_text(PACK)
    return Settings.from_env(env={}, broker=stack.broker_url, redis=redis_url,
                             topic_prefix=topic_prefix, policy=str(policy),
                             hash_key=KEY.decode())


async def produce(stack: Any, topic: str, values: list[tuple[bytes | None, bytes]],
                  headers: list[list[tuple[str, bytes]]] | None = None) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    try:
        for i, (key, value) in enumerate(values):
            await producer.send_and_wait(topic, value, key=key,
                                         headers=headers[i] if headers else None)
    finally:
        await producer.stop()


async def live_gate(settings: Settings) -> Gate:
    store = Store.from_url(settings.redis)
    await initialize_empty(store, KEY, purpose="test")
    return Gate(load_policy(settings.policy), store, Hasher(KEY))


async def decide_and_record(stack: Any, settings: Settings, gate: Gate,
                            requests: list[dict[str, Any]], now: datetime) -> list[str]:
    """Decide as the worker does, and put the record on contact.decisions."""
    outputs = await process_requests(gate, incoming(settings.topics["requests"], requests),
                                     now, None)
    records = [o for o in outputs if o.kind == "decisions"]
    await produce(stack, settings.topics["decisions"], [(o.key, o.value) for o in records],
                  [list(o.headers) for o in records])
    return [orjson.loads(o.value)["decision"]["decision"] for o in records]


async def test_a_flushed_store_is_held_then_rebuilt_and_forgets_nothing(
        stack: Any, settings: Settings, create_topics: Any, redis_url: str) -> None:
    await create_topics(*(TOPIC_DEFAULTS[k] for k in RECORD), partitions=2)
    now = datetime.now(UTC).replace(microsecond=0)
    gate = await live_gate(settings)
    events = [event("e1", "opted", "opt_out", now, channel="call"),
              event("e2", "number", "opt_out", now, channel="call", destination="+12125550102"),
              event("e3", "ceased", "cease", now)]
    await produce(stack, settings.topics["events"],
                  [(e["debtor_id"].encode(), orjson.dumps(e)) for e in events])
    await gate.apply_events([parse_event(orjson.dumps(e)) for e in events])
    first = [request("r1", "called", "+12125550101", now),
             request("r2", "number", "+12125550103", now)]
    assert await decide_and_record(stack, settings, gate, first, now) == ["allowed", "allowed"]
    before = (await gate.decide([parse_request(orjson.dumps(first[0]))], now))[0]

    redis.Redis.from_url(redis_url).flushdb()  # an operator's slip, or an empty restart
    later = [request("r3", "opted", "+12125550104", now),
             request("r4", "number", "+12125550102", now),
             request("r5", "ceased", "+12125550105", now),
             request("r6", "called", "+12125550101", now)]
    with pytest.raises(StoreLost):
        await gate.decide([parse_request(orjson.dumps(r)) for r in later], now)
    assert gate.store.epoch is None  # it holds: nothing more is decided from the lost copy

    keeper = Keeper(gate.store, KEY, partial(restore.rebuild, settings, gate))
    await keeper.ensure()
    assert keeper.ready
    assert keeper.last_stats["events"] == 3 and keeper.last_stats["restored"] == 2
    decisions = await gate.decide([parse_request(orjson.dumps(r)) for r in later], now)
    assert [d["decision"] for d in decisions] == ["blocked"] * 4  # type: ignore[index]
    rules = [[r["rule"] for r in d["reasons"]] for d in decisions]  # type: ignore[index]
    assert rules == [["memory/opt-outs"], ["memory/opt-outs"], ["memory/cease"],
                     ["memory/calls-per-day-per-number"]]
    again = (await gate.decide([parse_request(orjson.dumps(first[0]))], now))[0]
    assert again == before  # a replay after the rebuild gets its first decision
    await gate.store.close()


async def test_a_decision_recorded_twice_counts_once_and_a_rebuild_is_idempotent(
        stack: Any, settings: Settings, create_topics: Any) -> None:
    await create_topics(*(TOPIC_DEFAULTS[k] for k in RECORD), partitions=2)
    now = datetime.now(UTC).replace(microsecond=0)
    gate = await live_gate(settings)
    first = [request("r1", "d", "+12125550101", now)]
    await decide_and_record(stack, settings, gate, first, now)
    await decide_and_record(stack, settings, gate, first, now)  # a replay, emitted again
    keeper = Keeper(gate.store, KEY, partial(restore.rebuild, settings, gate))
    for _ in range(2):
        await keeper.ensure(force=True)
        counts = await gate.store.read([("HGETALL", "gk:{d}:c")])
        counters = {k: v for k, v in counts[0].items() if "|" in k}
        assert list(counters.values()) == ["1"]
    assert keeper.last_stats["decisions"] == 2 and keeper.last_stats["duplicates"] == 1
    await gate.store.close()


async def test_a_restarted_redis_is_not_trusted_even_with_its_data() -> None:
    """A restart (or a failover, or an old snapshot) changes the run id: the copy may be
    older than the record, so it is rebuilt even though the marker came back with it."""
    with PrivateRedis() as server:
        store = Store.from_url(server.url)
        await initialize_empty(store, KEY, purpose="test")
        gate = Gate(load_policy("default"), store, Hasher(KEY))
        await gate.apply_events([parse_event(orjson.dumps(event(
            "e", "d", "cease", datetime.now(UTC))))])
        client = redis.Redis.from_url(server.url)
        client.save()  # the snapshot a restart loads back
        server.stop()
        server.process = subprocess.Popen(  # the same data dir: it loads dump.rdb
            ["redis-server", "--port", str(server.port), "--bind", "127.0.0.1",
             "--dir", str(server.dir), "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                if redis.Redis.from_url(server.url).dbsize() > 0:
                    break
            except redis.ConnectionError:
                pass
            await asyncio.sleep(0.05)
        assert redis.Redis.from_url(server.url).exists("gk:{~meta}:m")  # the data came back
        lifted = [parse_event(orjson.dumps(event("e2", "d", "cease_lifted", datetime.now(UTC))))]
        with pytest.raises(StoreUnavailable):  # the old connection is gone: the caller retries
            await gate.apply_events(lifted)
        with pytest.raises(StoreLost):  # and then learns that the copy may be old
            await gate.apply_events(lifted)
        verdict = await guard.verify(store, guard.key_id(KEY), 0.0)
        assert not verdict.trusted and "run ids changed" in verdict.reason
        await store.close()


async def test_a_new_hashing_key_rebuilds_and_the_signing_key_changes_nothing(
        redis_url: str) -> None:
    store = Store.from_url(redis_url)
    await initialize_empty(store, KEY, purpose="test")
    before = Settings.from_env(env={"GATEKEEPER_SIGNING_KEY": "old",
                                    "GATEKEEPER_HASH_KEY": "h1"})
    rotated = Settings.from_env(env={"GATEKEEPER_SIGNING_KEY": "new,old",
                                     "GATEKEEPER_HASH_KEY": "h1"})
    assert before.hashing_key == rotated.hashing_key
    assert (await guard.verify(store, guard.key_id(KEY), started_at=0.0)).trusted
    # a worker started (with a new key) after the store was built rebuilds it
    changed = await guard.verify(store, guard.key_id(b"another"), started_at=time.time() + 1)
    assert not changed.trusted and changed.rebuild and "hashing key changed" in changed.reason
    # one started before (still running with its old key, once another rebuilt) holds
    stale = await guard.verify(store, guard.key_id(b"another"), started_at=0.0)
    assert not stale.trusted and not stale.rebuild
    await store.close()


async def test_events_acknowledged_before_a_request_apply_to_it(
        stack: Any, settings: Settings, create_topics: Any, app_id: str) -> None:
    await create_topics(*(TOPIC_DEFAULTS[k] for k in RECORD), partitions=2)
    now = datetime.now(UTC).replace(microsecond=0)
    gate = await live_gate(settings)
    catchup = EventsCatchUp(settings.broker, settings.topics["events"], app_id,
                            lambda batch, at: process_events(gate, batch, at))
    try:
        assert await catchup.catch_up(now) == 0
        debtors = [f"fresh-{i}" for i in range(200)]
        events = [event(f"e-{d}", d, "opt_out", now, channel="call") for d in debtors]
        await produce(stack, settings.topics["events"],
                      [(e["debtor_id"].encode(), orjson.dumps(e)) for e in events])
        assert await catchup.catch_up(now) == 200
        decisions = await gate.decide([parse_request(orjson.dumps(request(
            f"r-{d}", d, "+12125550100", now))) for d in debtors], now)
        assert {d["decision"] for d in decisions} == {"blocked"}  # type: ignore[index]
        assert await catchup.catch_up(now) == 0
    finally:
        await catchup.stop()
        await gate.store.close()


def test_restore_command_rebuilds_with_progress(stack: Any, settings: Settings,
                                                create_topics: Any) -> None:
    asyncio.run(_restore_command_setup(stack, settings))
    env = {**os.environ, "GATEKEEPER_BROKER": settings.broker, "GATEKEEPER_REDIS": settings.redis,
           "GATEKEEPER_TOPIC_PREFIX": settings.topic_prefix, "GATEKEEPER_POLICY": settings.policy,
           "GATEKEEPER_HASH_KEY": KEY.decode()}
    for _ in range(2):  # idempotent: the same record, the same working copy
        done = subprocess.run([sys.executable, "-m", "gatekeeper", "restore"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "rebuilding" in done.stderr and "done" in done.stderr
        assert "events=1" in done.stdout and "restored=1" in done.stdout
        client = redis.Redis.from_url(settings.redis, decode_responses=True)
        assert client.hget("gk:{d}:s", "o:call")  # the opt-out is back
    without_key = {k: v for k, v in env.items() if k != "GATEKEEPER_HASH_KEY"}
    done = subprocess.run([sys.executable, "-m", "gatekeeper", "restore"], env=without_key,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "GATEKEEPER_HASH_KEY" in done.stderr
    assert "Traceback" not in done.stderr


async def _restore_command_setup(stack: Any, settings: Settings) -> None:
    await kafka_helpers.create_topics(
        stack.bootstrap, [settings.topics[k] for k in RECORD], partitions=2)
    now = datetime.now(UTC).replace(microsecond=0)
    gate = await live_gate(settings)
    e = event("e1", "d", "opt_out", now, channel="call")
    await produce(stack, settings.topics["events"], [(b"d", orjson.dumps(e))])
    await decide_and_record(stack, settings, gate, [request("r1", "d2", "+12125550101", now)],
                            now)
    await gate.store.close()
