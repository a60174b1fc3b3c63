"""Reusable Kafka helpers for the integration tests (aiokafka only, no faust).

All functions take an aiokafka bootstrap string ("127.0.0.1:9092"); turn a faust-style
broker URL (GATEKEEPER_BROKER, "kafka://127.0.0.1:9092") into one with
gatekeeper.brokers.bootstrap().
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from aiokafka.structs import ConsumerRecord, RecordMetadata

from gatekeeper.kafka_security import kafka_options

DEFAULT_BROKER_URL = "kafka://127.0.0.1:9092"


async def kafka_problem(bootstrap: str, timeout: float = 5.0) -> str | None:
    """None when the cluster answers a metadata request with at least one broker, else why not."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000),
                            **kafka_options())
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        md = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
        if not md.brokers():
            return f"Kafka at {bootstrap} returned metadata without brokers"
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        return f"Kafka at {bootstrap} does not answer: {type(exc).__name__}: {exc}"
    finally:
        await client.close()


async def _admin(bootstrap: str, timeout: float) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000),
                                **kafka_options())
    await admin.start()
    return admin


async def list_topics(bootstrap: str, timeout: float = 10.0) -> set[str]:
    admin = await _admin(bootstrap, timeout)
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def record_configs(name: str) -> dict[str, str]:
    """The retention the gatekeeper wants for a topic of its record (by the default name the
    topic ends with), as the worker would create it: it refuses shorter ones."""
    from gatekeeper.settings import TOPIC_DEFAULTS, Settings
    from gatekeeper.topics import topic_configs

    for kind, configs in topic_configs(Settings()).items():
        if name.endswith(TOPIC_DEFAULTS[kind]):
            return configs
    return {}


async def create_topics(
    bootstrap: str,
    names: Iterable[str],
    *,
    partitions: int = 1,
    replication: int = 1,
    configs: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> None:
    """Create topics (existing ones are fine); wait until every partition has a leader."""
    names = list(dict.fromkeys(names))
    if not names:
        return
    admin = await _admin(bootstrap, timeout)
    try:
        new = [
            NewTopic(
                n,
                num_partitions=partitions,
                replication_factor=replication,
                topic_configs={**record_configs(n), **dict(configs or {})},
            )
            for n in names
        ]
        try:
            resp = await admin.create_topics(new, timeout_ms=int(timeout * 1000))
        except TopicAlreadyExistsError:
            resp = None
        if resp is not None:
            for topic, code, *rest in resp.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"create topic {topic}: error {code} {rest}")
    finally:
        await admin.close()
    await wait_topics_ready(bootstrap, names, partitions=partitions, timeout=timeout)


async def wait_topics_ready(
    bootstrap: str, names: Sequence[str], *, partitions: int = 1, timeout: float = 15.0
) -> None:
    """Wait until metadata shows `partitions` partitions with a leader for every topic."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, **kafka_options())
    await client.bootstrap()
    deadline = time.monotonic() + timeout
    try:
        while True:
            md = await client.fetch_all_metadata()
            missing = []
            for n in names:
                parts = md.partitions_for_topic(n) or set()
                if len(parts) < partitions or any(
                    md.leader_for_partition(TopicPartition(n, p)) in (None, -1) for p in parts
                ):
                    missing.append(n)
            if not missing:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics without leaders after {timeout}s: {missing}")
            await asyncio.sleep(0.1)
    finally:
        await client.close()


async def delete_topics(bootstrap: str, names: Iterable[str], timeout: float = 15.0) -> None:
    names = list(names)
    if not names:
        return
    admin = await _admin(bootstrap, timeout)
    try:
        with contextlib.suppress(UnknownTopicOrPartitionError):
            await admin.delete_topics(names, timeout_ms=int(timeout * 1000))
    finally:
        await admin.close()


async def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[bytes | tuple[bytes | None, bytes]],
    *,
    headers: Sequence[tuple[str, bytes]] | None = None,
    partition: int | None = None,
    acks: Any = "all",
) -> list[RecordMetadata]:
    """Send values (or (key, value) pairs) in order and wait for every ack."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=acks, linger_ms=5,
                                **kafka_options())
    await producer.start()
    try:
        futs = []
        for m in messages:
            key, value = m if isinstance(m, tuple) else (None, m)
            futs.append(
                await producer.send(
                    topic,
                    value=value,
                    key=key,
                    partition=partition,
                    headers=list(headers) if headers else None,
                )
            )
        return list(await asyncio.gather(*futs))
    finally:
        await producer.stop()


async def _started_consumer(bootstrap: str, **kw: Any) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, **kw, **kafka_options())
    await consumer.start()
    # aiokafka 0.14 quirk: stop() right after start() with group_id=None raises CancelledError
    # (NoGroupCoordinator.close() awaits a task that was cancelled before it ever ran).
    await asyncio.sleep(0)
    return consumer


async def _partitions(consumer: AIOKafkaConsumer, topic: str, deadline: float) -> set[int]:
    """Partitions of `topic`, refreshing metadata until it shows up (empty set at deadline)."""
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return set(parts)
        if time.monotonic() > deadline:
            return set()
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)


async def consume(
    bootstrap: str,
    topic: str,
    n: int,
    *,
    timeout: float = 30.0,
    from_beginning: bool = True,
) -> list[ConsumerRecord]:
    """Read `topic` (all partitions, no consumer group) until `n` records arrived or `timeout`.

    Returns what was received (possibly fewer than n: the caller asserts). Records are in
    arrival order, which is per-partition offset order.
    """
    consumer = await _started_consumer(
        bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        fetch_max_wait_ms=100,
    )
    out: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    try:
        parts = await _partitions(consumer, topic, deadline)  # the topic may be created late
        if not parts:
            return out
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            batch = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            for records in batch.values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


async def end_offsets(
    bootstrap: str, topic: str, timeout: float = 10.0
) -> dict[TopicPartition, int]:
    consumer = await _started_consumer(bootstrap)
    try:
        parts = await _partitions(consumer, topic, time.monotonic() + timeout)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        offsets: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return offsets
    finally:
        await consumer.stop()


async def committed_offsets(
    bootstrap: str, group_id: str, topic: str | None = None
) -> dict[TopicPartition, int]:
    """The group's committed offsets (next offset to read), optionally for one topic only."""
    admin = await _admin(bootstrap, 10.0)
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    return {tp: om.offset for tp, om in offsets.items() if topic is None or tp.topic == topic}


async def wait_committed(
    bootstrap: str,
    group_id: str,
    topic: str,
    total: int,
    *,
    timeout: float = 20.0,
) -> dict[TopicPartition, int]:
    """Poll until the group's committed offsets for `topic` add up to `total` (or timeout).

    Returns the last seen offsets either way; the caller asserts.
    """
    deadline = time.monotonic() + timeout
    seen: dict[TopicPartition, int] = {}
    while True:
        try:
            seen = await committed_offsets(bootstrap, group_id, topic)
        except Exception:  # noqa: BLE001 - coordinator may still be loading
            seen = seen or {}
        if sum(max(o, 0) for o in seen.values()) >= total or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.2)
