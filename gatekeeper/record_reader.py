"""Reading the Kafka record: ``debtor.events``, ``contact.decisions`` and
``contact.outcomes``, partition by partition, merged in broker-timestamp order. Shared by the
rebuild (``restore``), ``report`` and ``backtest``.

The three topics are co-partitioned by debtor, so one partition number holds every message
of its debtors: a reader takes one partition number at a time (``partition_groups``) and
never holds the whole record in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from gatekeeper.kafka_security import kafka_options

KINDS = ("events", "decisions", "outcomes")  # at one timestamp: events first, as live
FETCH = {"max_partition_fetch_bytes": 4 * 1024 * 1024, "fetch_max_bytes": 16 * 1024 * 1024}


@dataclass(frozen=True, slots=True)
class Item:
    timestamp: int  # ms
    order: int  # the index of its kind in KINDS
    key: bytes  # the debtor
    value: bytes
    record: str | None  # decisions: the gk-record header


def record_consumer(servers: str | list[str]) -> AIOKafkaConsumer:
    """A consumer of no group, reading from the earliest offsets, committing nothing."""
    return AIOKafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False,
                            auto_offset_reset="earliest", **FETCH, **kafka_options())


def partition_groups(found: Mapping[str, Sequence[int]]) -> list[list[int]]:
    """Partition numbers to read together: one at a time when the topics are co-partitioned
    (they have the same count), else all of them in one pass."""
    counts = {len(numbers) for numbers in found.values()}
    counts.discard(0)
    numbers = range(max(counts, default=0))
    return [[n] for n in numbers] if len(counts) <= 1 else [list(numbers)]


async def read_partitions(consumer: AIOKafkaConsumer, topics: Mapping[str, str],
                          found: Mapping[str, Sequence[int]], numbers: Sequence[int],
                          since_ms: Mapping[str, int | None],
                          until_ms: Mapping[str, int | None] | None = None) -> list[Item]:
    """Every message of these partitions of the topics (kind -> name), merged in
    broker-timestamp order. Per kind, reading starts at the first message whose broker
    timestamp is ``since_ms`` or later (None: at the beginning) and leaves out messages
    stamped ``until_ms`` or later (None: reads up to the end offsets now)."""
    until_ms = until_ms or {}
    tps = {TopicPartition(topic, n): KINDS.index(kind) for kind, topic in topics.items()
           for n in numbers if n in found.get(topic, ())}
    present = list(tps)
    if not present:
        return []
    consumer.assign(present)
    ends = await consumer.end_offsets(present)
    starts = await consumer.beginning_offsets(present)
    await _bound(consumer, starts, ends, tps, since_ms, lower=True)
    await _bound(consumer, ends, ends, tps, until_ms, lower=False)
    for tp in present:
        consumer.seek(tp, starts[tp])
    left = {tp for tp in present if starts[tp] < ends[tp]}
    items: list[Item] = []
    while left:
        batches = await consumer.getmany(*left, timeout_ms=1000, max_records=20000)
        for tp, records in batches.items():
            order = tps[tp]
            last = until_ms.get(KINDS[order])
            for record in records:
                if record.offset >= ends[tp] or (last is not None and record.timestamp >= last):
                    continue  # (a producer's clock may put a later message before the bound)
                header = dict(record.headers or ()).get("gk-record")
                items.append(Item(record.timestamp, order, record.key or b"",
                                  record.value or b"", header.decode() if header else None))
        for tp in list(left):
            if await consumer.position(tp) >= ends[tp]:
                left.discard(tp)
    items.sort(key=lambda item: (item.timestamp, item.order))
    return items


async def _bound(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int],
                 ends: dict[TopicPartition, int], tps: Mapping[TopicPartition, int],
                 times: Mapping[str, int | None], *, lower: bool) -> None:
    """Move ``offsets`` to the first message at or after each kind's time (for a lower bound,
    the end when there is none; for an upper bound, the end stays)."""
    wanted = {tp: at for tp, order in tps.items()
              if (at := times.get(KINDS[order])) is not None}
    if not wanted:
        return
    found = await consumer.offsets_for_times(wanted)
    for tp in wanted:
        at = found.get(tp)
        if at is not None:
            offsets[tp] = at.offset
        elif lower:
            offsets[tp] = ends[tp]
