"""Keep the decision index up to date from the record topics.

The consumer assigns itself every partition of ``contact.decisions``, ``contact.review``,
``debtor.events``, ``contact.outcomes`` and the audit topic (no consumer group: the index
keeps its own offsets, written in the same SQLite transaction as the rows, so a restart
resumes exactly where the index stopped and a deleted index is rebuilt from the beginning).
Topics that do not exist yet are looked for again every ``refresh`` seconds. Old rows leave
the index once a day, by the retention setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from gatekeeper.access_errors import explain
from gatekeeper.brokers import bootstrap
from gatekeeper.console.index import DecisionIndex, IngestStats
from gatekeeper.console.index.pipeline import Pipeline
from gatekeeper.console.index.rows import Message
from gatekeeper.kafka_security import kafka_options
from gatekeeper.topics import partitions_of

log = logging.getLogger("gatekeeper.console.index")
KINDS = ("decisions", "review", "events", "outcomes", "audit")
DAY_MS = 86_400_000
# messages per batch at most (a catch-up or a rebuild fills them; live, a batch is what
# arrived): each commit rewrites the index pages it touched, and the random request and debtor
# indexes are touched all over, so 20,000 cost 10 % less CPU per decision than 5,000 at 300k;
# full batches also share a commit, up to pipeline.GROUP messages
BATCH = 20_000
BEHIND = 1_000  # messages waiting on a partition that make a batch part of a catch-up


class IndexFeeder:
    """Reads the topics into an index; ``run`` until cancelled."""

    def __init__(self, index: DecisionIndex, broker: str, topics: dict[str, str], *,
                 retention_days: int, batch: int = BATCH, refresh: float = 30.0,
                 clock: Callable[[], float] = time.time):
        self.index = index
        self.broker = broker
        self.topics = {kind: topics[kind] for kind in KINDS if kind in topics}
        self.kind_of = {name: kind for kind, name in self.topics.items()}
        self.retention_days = retention_days
        self.batch = batch
        self.refresh = refresh
        self.clock = clock
        self.totals = IngestStats()
        self.caught_up = False  # every partition read to its end once
        self.last_error: str | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-writer")
        self._assigned: set[TopicPartition] = set()

    async def run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the broker comes back; keep trying
                self.last_error = explain(exc) or f"{type(exc).__name__}: {exc}"
                log.warning("index consumer: %s; retrying in 5 s", self.last_error)
                await asyncio.sleep(5)

    async def _consume(self) -> None:
        pipeline = Pipeline(self.index, self._writer)
        try:
            await self._consume_into(pipeline)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(None, pipeline.close)

    async def _consume_into(self, pipeline: Pipeline) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(self.broker), group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=4 * 1024 * 1024, **kafka_options())
        await consumer.start()
        self._assigned = set()
        try:
            next_refresh = 0.0
            next_prune = 0.0
            ends: dict[TopicPartition, int] = {}
            while True:
                if time.monotonic() >= next_refresh:
                    ends = await self._assign(consumer) or ends
                    next_refresh = time.monotonic() + self.refresh
                if time.monotonic() >= next_prune:
                    await self.prune()
                    next_prune = time.monotonic() + 3600
                if not self._assigned:
                    await asyncio.sleep(1.0)
                    continue
                # parsed while the previous batch is written; a batch is counted once written
                fetched = await consumer.getmany(timeout_ms=0 if pipeline.writing else 500,
                                                 max_records=self.batch)
                messages = [_message(self.kind_of[tp.topic], record)
                            for tp, records in fetched.items() for record in records]
                # a catch-up: the batch may share its commit with the next ones
                more = len(messages) >= self.batch or behind(consumer, fetched)
                stats = await (pipeline.put(messages, more=more)
                               if messages else pipeline.drain())
                if stats is not None:
                    self._add(stats)
                    self.last_error = None
                if not self.caught_up and ends and not pipeline.writing:
                    positions = {tp: await consumer.position(tp) for tp in ends}
                    self.caught_up = all(positions[tp] >= end for tp, end in ends.items())
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _assign(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
        """Assign every partition of the topics that exist now, from the stored offsets;
        returns the end offsets of newly assigned partitions."""
        found = await partitions_of(self.broker, list(self.topics.values()))
        wanted = set(self._assigned)
        for name, partitions in found.items():
            wanted.update(TopicPartition(name, partition) for partition in partitions)
        if wanted == self._assigned:
            return {}
        consumer.assign(list(wanted))
        stored = await asyncio.get_running_loop().run_in_executor(
            self._writer, self.index.offsets)
        for tp in wanted:
            at = stored.get((tp.topic, tp.partition))
            if at is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, at)
        fresh = [tp for tp in wanted if tp not in self._assigned]
        self._assigned = wanted
        return await consumer.end_offsets(fresh) if fresh else {}

    async def prune(self) -> int:
        cutoff = int(self.clock() * 1000) - self.retention_days * DAY_MS
        return await asyncio.get_running_loop().run_in_executor(
            self._writer, self.index.prune, cutoff)

    def _add(self, stats: IngestStats) -> None:
        for name in ("messages", "decisions", "duplicates", "events", "outcomes", "actions",
                     "unreadable"):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(stats, name))

    def close(self) -> None:
        self._writer.submit(self.index.close).result()
        self._writer.shutdown(wait=True)


def behind(consumer: Any, fetched: dict[TopicPartition, list[Any]]) -> bool:
    """Whether a partition just read has at least ``BEHIND`` more messages waiting (its high
    watermark, known from the fetch, past the last record read): a catch-up, whatever size
    the fetches come in."""
    for tp, records in fetched.items():
        high = consumer.highwater(tp) if records else None
        if high is not None and high - (records[-1].offset + 1) >= BEHIND:
            return True
    return False


def _message(kind: str, record: Any) -> Message:
    return Message(kind, record.topic, record.partition, record.offset, record.timestamp,
                   record.key, record.value, tuple(record.headers or ()))
