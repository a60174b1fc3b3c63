"""Kafka, Redis and Prometheus clients of the benchmark: topics, pre-production, end offsets
and record timestamps, Redis INFO and key sizes, the worker's metrics."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from harness import PARTITIONS, P

# ------------------------------------------------------------------ Kafka

def tps(topic: str) -> list[Any]:
    from aiokafka import TopicPartition

    return [TopicPartition(topic, p) for p in range(PARTITIONS)]


async def create_topics(bootstrap: str, names: Iterable[str],
                        append_time: Iterable[str] = ()) -> None:
    """Create topics; those in ``append_time`` stamp records with the broker's clock. The
    record topics (debtor events, outcomes, decisions) get the retention the worker wants:
    it refuses to start on shorter ones."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from gatekeeper.settings import TOPIC_DEFAULTS, Settings
    from gatekeeper.topics import topic_configs

    record = {TOPIC_DEFAULTS[kind]: configs
              for kind, configs in topic_configs(Settings()).items()}

    def configs(name: str) -> dict[str, str]:
        found = next((c for suffix, c in record.items() if name.endswith(suffix)), {})
        return {**found, **({"message.timestamp.type": "LogAppendTime"}
                            if name in stamped else {})}

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        names = list(names)
        stamped = set(append_time)
        await admin.create_topics([NewTopic(n, PARTITIONS, 1, topic_configs=configs(n))
                                   for n in names])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            described = await admin.describe_topics(names)
            if all(t.get("error_code", 0) == 0 and len(t.get("partitions") or []) == PARTITIONS
                   and all(p.get("leader", -1) >= 0 for p in t["partitions"])
                   for t in described):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError("topics have no leaders after 60 s")
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, prefix: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
        return len(mine)
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, messages: Sequence[tuple[bytes, bytes]],
                  what: str) -> float:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=262144, acks=1)
    await producer.start()
    started = time.monotonic()
    try:
        pending = []
        for i, (key, value) in enumerate(messages):
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending = []
                P.update(f"{what}: {i + 1:,}/{len(messages):,} produced")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.monotonic() - started


class OffsetWatcher:
    """End offsets of a few topics (cheap: no records are fetched)."""

    def __init__(self, bootstrap: str, topics: Sequence[str]):
        self.bootstrap = bootstrap
        self.partitions = [tp for t in topics for tp in tps(t)]
        self.consumer: Any = None

    async def __aenter__(self) -> OffsetWatcher:
        from aiokafka import AIOKafkaConsumer

        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                         enable_auto_commit=False)
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def ends(self) -> dict[Any, int]:
        return dict(await self.consumer.end_offsets(self.partitions))

    async def per_topic(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for tp, end in (await self.ends()).items():
            out[tp.topic] += end
        return dict(out)

    async def edge_timestamps(self) -> tuple[float, float]:
        """(earliest first-record timestamp, latest last-record timestamp), seconds."""
        ends = await self.ends()
        firsts: list[float] = []
        lasts: list[float] = []
        for tp, end in ends.items():
            if end <= 0:
                continue
            for offset, bucket in ((0, firsts), (end - 1, lasts)):
                self.consumer.assign([tp])
                self.consumer.seek(tp, offset)
                records = await self.consumer.getmany(tp, timeout_ms=5000, max_records=1)
                for record in records.get(tp, [])[:1]:
                    bucket.append(record.timestamp / 1000.0)
        if not firsts or not lasts:
            raise RuntimeError("no output records to time")
        return min(firsts), max(lasts)


# ------------------------------------------------------------------ Redis

async def redis_info(url: str) -> dict[str, Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        info: dict[str, Any] = await client.info("everything")
        return info
    finally:
        await client.aclose()


async def flush_db(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def redis_cpu(info: dict[str, Any]) -> float:
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def commandstats(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, float]]:
    out = {}
    for key, value in after.items():
        if not key.startswith("cmdstat_") or not isinstance(value, dict):
            continue
        prior = before.get(key) or {"calls": 0, "usec": 0}
        calls = int(value["calls"]) - int(prior["calls"])
        if calls > 0:
            usec = float(value["usec"]) - float(prior["usec"])
            out[key.removeprefix("cmdstat_")] = {"calls": calls, "usec": usec,
                                                 "usec_per_call": round(usec / calls, 2)}
    return out


async def key_breakdown(url: str, sample: int = 2000) -> dict[str, Any]:
    """Keys by kind (counters, state, decision records) with MEMORY USAGE sampled."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    kinds: dict[str, list[bytes]] = {"counters": [], "state": [], "records": [], "other": []}
    counts: Counter[str] = Counter()
    try:
        async for key in client.scan_iter(match="gk:*", count=2000):
            kind = ("records" if b":r:" in key else "counters" if key.endswith(b":c")
                    else "state" if key.endswith(b":s") else "other")
            counts[kind] += 1
            if len(kinds[kind]) < sample:
                kinds[kind].append(key)
        out: dict[str, Any] = {}
        for kind, keys in kinds.items():
            if not counts[kind]:
                continue
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.memory_usage(key, samples=0)
            sizes = [s for s in await pipe.execute() if s]
            mean = sum(sizes) / len(sizes) if sizes else 0.0
            out[kind] = {"keys": counts[kind], "mean_bytes": round(mean, 1),
                         "estimated_bytes": int(mean * counts[kind])}
        return out
    finally:
        await client.aclose()


# ------------------------------------------------------------------ metrics scrape

def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        with contextlib.suppress(ValueError):
            out[name] = float(value)
    return out


def scrape_all(ports: Sequence[int]) -> dict[str, float]:
    """Every worker's metrics, added up."""
    total: Counter[str] = Counter()
    for port in ports:
        total.update(scrape(port))
    return dict(total)
