"""Acknowledged events apply: before a batch of requests is decided, every debtor event
the broker had acknowledged by then is applied.

An event whose produce was acknowledged before a request was produced is below the events
topic's end offset (its high watermark) by the time the request is read. So before each
batch the worker asks for the end offsets of the events topic and reads, with a consumer of
its own (no group), every event between what it has applied and those ends, applying them as
the events agent does (applying an event twice changes nothing). The events agent still reads
the same events, and dead-letters the invalid ones.

The end offsets may be asked for as soon as a batch is read (``ask``, which the hot loop
calls while the batch before is still decided), and taken when that batch is decided
(``asked``): each batch takes the answer asked for when it was read (any answer asked for
after a batch was read would do; an earlier one would not).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from gatekeeper.brokers import bootstrap
from gatekeeper.kafka_security import kafka_options
from gatekeeper.stream import stages
from gatekeeper.stream.routing import Incoming, Outgoing
from gatekeeper.topics import partitions_of

log = logging.getLogger(__name__)
Apply = Callable[[Sequence[Incoming], datetime], Awaitable[list[Outgoing]]]


class EventsCatchUp:
    def __init__(self, broker: str, topic: str, group_id: str, apply: Apply):
        self.broker = broker
        self.topic = topic
        self.group_id = group_id
        self.apply = apply
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self.applied = 0
        self._starting = asyncio.Lock()  # the request loop and the deferral release loop
        self._reading = asyncio.Lock()  # share this reader
        self._asked: dict[tuple[str, int, int], asyncio.Future[dict[TopicPartition, int]]] = {}

    async def _start(self) -> AIOKafkaConsumer:
        # A broker answers one connection's requests in order: while a fetch long-polls
        # (fetch_max_wait_ms), the end-offsets request of the next batch waits behind it. So
        # the partitions stay paused (nothing fetched) except while there is something to
        # read, and a fetch left in flight after reading waits 20 ms at most.
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(self.broker), group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    fetch_max_wait_ms=20, **kafka_options())
        await consumer.start()
        try:
            partitions = (await partitions_of(self.broker, [self.topic])).get(self.topic, [])
            self._partitions = [TopicPartition(self.topic, p) for p in partitions]
            consumer.assign(self._partitions)
            consumer.pause(*self._partitions)
            committed = await self._committed()
            for tp in self._partitions:
                if tp in committed:  # what the events agent has applied already
                    consumer.seek(tp, committed[tp])
                else:
                    await consumer.seek_to_beginning(tp)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        return consumer

    async def _committed(self) -> dict[TopicPartition, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(self.broker), **kafka_options())
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(self.group_id)
        finally:
            await admin.close()
        return {tp: meta.offset for tp, meta in offsets.items()
                if tp.topic == self.topic and meta.offset >= 0}

    async def end_offsets(self) -> dict[TopicPartition, int]:
        """The events topic's end offsets now: one ListOffsets request."""
        async with self._starting:
            consumer = self._consumer or await self._start()
        if not self._partitions:  # no events topic yet: look again next time
            await self.stop()
            return {}
        ends: dict[TopicPartition, int] = await consumer.end_offsets(self._partitions)
        return ends

    def ask(self, batch: Sequence[Incoming]) -> None:
        """Ask for the end offsets now: ``batch`` was just read (``asked`` hands them over)."""
        key = _first(batch)
        self._asked.pop(key, None)  # (read again: the newer answer, in reading order)
        self._asked[key] = ends = asyncio.ensure_future(
            stages.timed("ends asked", self.end_offsets)())
        ends.add_done_callback(_retrieve)

    def asked(self, batch: Sequence[Incoming]) -> asyncio.Future[dict[TopicPartition, int]]:
        """The end offsets asked for when ``batch`` was read, once (asked now when there are
        none: a retry, or nobody asked). Those of batches read before it, not taken (held
        and given up in a rebalance), are dropped."""
        ends = None
        if batch and _first(batch) in self._asked:
            key = _first(batch)
            while ends is None:
                first, future = next(iter(self._asked.items()))
                del self._asked[first]
                ends = future if first == key else None
        if ends is None or ends.cancelled() or (ends.done() and ends.exception() is not None):
            ends = asyncio.ensure_future(stages.timed("ends asked", self.end_offsets)())
        return ends

    async def catch_up(self, now: datetime,
                       ends_asked: Awaitable[dict[TopicPartition, int]] | None = None) -> int:
        """Apply every event below the end offsets (``ends_asked``: asked for once the
        requests were read, and not sooner; otherwise asked now); return how many were read.
        Kafka or Redis failures propagate (the caller holds the batch and retries)."""
        ends = await (ends_asked if ends_asked is not None else self.end_offsets())
        async with self._reading:  # (the deferral release loop catches up too)
            consumer = self._consumer
            if consumer is None or not self._partitions:
                return 0
            behind = {tp for tp in self._partitions if await consumer.position(tp) < ends[tp]}
            consumer.resume(*behind)
            try:
                read = await self._read(consumer, behind, ends, now)
            finally:
                consumer.pause(*self._partitions)
            self.applied += read
            return read

    async def _read(self, consumer: AIOKafkaConsumer, behind: set[TopicPartition],
                    ends: dict[TopicPartition, int], now: datetime) -> int:
        read = 0
        while behind:
            batches = await consumer.getmany(*behind, timeout_ms=500, max_records=5000)
            incoming = [Incoming(r.key, r.value, r.topic, r.partition, r.offset)
                        for records in batches.values() for r in records]
            if incoming:
                try:
                    await self.apply(incoming, now)
                except BaseException:  # read again next time: nothing may be skipped
                    for tp, records in batches.items():
                        if records:
                            consumer.seek(tp, records[0].offset)
                    raise
                read += len(incoming)
            for tp in list(behind):
                if await consumer.position(tp) >= ends[tp]:
                    behind.discard(tp)
        return read

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


def _retrieve(future: asyncio.Future[dict[TopicPartition, int]]) -> None:
    """(A failed ask is asked again by ``asked``; its error is not worth a warning.)"""
    if not future.cancelled():
        future.exception()


def _first(batch: Sequence[Incoming]) -> tuple[str, int, int]:
    return batch[0].topic, batch[0].partition, batch[0].offset
