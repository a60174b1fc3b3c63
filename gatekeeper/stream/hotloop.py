"""The request topic's hot loop: aiokafka directly, inside the faust app (a ``mode.Service``
the app starts and stops), instead of faust's per-event stream machinery.

    getmany ──► on_read (the worker asks the events' end offsets) ──► next getmany ...
       └─► (its turn: the batch before decided and sent) decide (Runner.until_done: held
           while Redis fails or is rebuilt) ──► send every output (no wait)
                      └─► acknowledgements ──► commit, in batch order (one at a time; the
                                               batches delivered meanwhile share the next)

* Read-ahead (``read_ahead=1``, ``GATEKEEPER_READ_AHEAD``; off by default): while a batch
  is decided and sent, the loop reads the next one and calls ``on_read`` at once, so the
  round trip the worker starts there (the events topic's end offsets,
  ``stream/catchup.py``) overlaps the batch before's Redis call and produce instead of
  following them. Batches are still decided one after the other, in the order read, each
  after the batch before was decided and handed to the producer. Off, a batch is read once
  the one before was handed to the producer (see benchmarks/README.md for why it is off).

* Offsets are committed only after every output of the batch, and of every batch before it,
  was acknowledged by Kafka (``stream/ledger.py`` keeps the order and the epochs). At most
  ``IN_FLIGHT`` batches wait for their acknowledgements while the next one is decided; the
  decisions of a batch are made after the previous batch's scripts ran, so it sees their
  counts. A produce that fails sends the batch's outputs again until Kafka takes them
  (``Runner.deliver``).
* Commits are off the batches' path: a commit takes a group coordinator ~5-10 ms (Kafka 4
  lingers its offset writes), longer than a small batch's round trips, so the batches
  delivered while one commit is out are committed together by the next (``_committer``).
  And one starts at most every ``commit_every`` seconds (``GATEKEEPER_COMMIT_INTERVAL``,
  0.25 s): an offset commit costs the worker ~0.9 ms of CPU (aiokafka) and the broker a
  write, which at low rates, one request a batch, was a commit every other batch. A
  revocation or a stop commits at once. A crash replays at most the batches delivered
  since the last commit, whose decisions are recorded (the replay finds them).
* Waiting: the consumer's fetches long-poll at most ``FETCH_WAIT_MS`` (aiokafka's default,
  500 ms, would hold a partition's new record behind a fetch of the other partitions that
  is still out), and a record batch goes to the producer closed (no linger: it is whole).
* Rebalances: when partitions are revoked the loop starts no new batch, lets the batches
  in flight finish and commit (up to ``REVOKE_WAIT`` seconds), then ends the epoch: a batch
  still held (Redis down) commits nothing and the next owner reads it again.
* Fail closed: nothing is committed for a batch that was not decided from a trusted store
  and fully delivered; a crash replays from the last commit, and the replay finds the
  recorded decisions and emits them again unchanged (idempotent by request id).

The consumer is in the group ``GATEKEEPER_APP_ID``; the faust agents of the control topics
(events, outcomes) are in ``<app id>.control`` (see ``app.control_group``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.partitioner import DefaultPartitioner, murmur2
from mode import Service

from gatekeeper.access_errors import explain
from gatekeeper.brokers import bootstrap
from gatekeeper.kafka_security import kafka_options
from gatekeeper.memory import Keeper
from gatekeeper.stream import collector, refusal_logs, stages
from gatekeeper.stream.ledger import Ledger, Read
from gatekeeper.stream.routing import Incoming, Outgoing
from gatekeeper.stream.runner import Failures, Runner

log = logging.getLogger("gatekeeper.worker")
IN_FLIGHT = 2  # batches whose acknowledgements may be outstanding while one is decided
REVOKE_WAIT = 10.0  # seconds a revocation waits for the batches in flight to commit
STOP_WAIT = 15.0
PARTITIONS_FOR = 30.0  # seconds an output topic's partition list is used before a new look
MAX_BATCH_BYTES = 256 * 1024  # a record batch per topic and partition of a decided batch
FETCH_WAIT_MS = 5  # the longest a fetch long-polls (see the module's docstring)
Decide = Callable[[Sequence[Incoming]], Awaitable[list[Outgoing]]]
Finished = Callable[[Sequence[Incoming], Sequence[Outgoing], float], None]


@dataclass(eq=False)
class Batch:
    records: list[Incoming]
    read: Read
    started: float
    outputs: list[Outgoing] = field(default_factory=list)
    abandoned: bool = False
    delivered: bool = False  # its outputs and every earlier batch's acknowledged (committable)
    timeline: stages.Timeline | None = None  # with GATEKEEPER_STAGE_TIMES=1 (stages.py)


class RequestLoop(Service):
    """Consumes ``topic`` in ``group``; each batch goes through ``decide`` (retried until it
    succeeds, see ``Runner``) and its outputs to ``topics[output.kind]``."""

    def __init__(self, *, broker: str, group: str, topic: str, topics: dict[str, str],
                 decide: Decide, keeper: Keeper, failures: Failures, batch_size: int,
                 within: float, commit_every: float, finished: Finished | None = None,
                 on_read: Callable[[Sequence[Incoming]], object] | None = None,
                 read_ahead: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self.broker = broker
        self.group = group
        self.topic = topic
        self.topics = topics
        self.decide = decide
        self.runner = Runner(self.produce, keeper, failures)
        self.batch_size = batch_size
        self.within_ms = max(1, int(within * 1000))
        self.finished = finished
        self.on_read = on_read  # called as each batch is read, before it waits for its turn
        self.read_ahead = read_ahead  # batches read while one is decided (0 or 1)
        self._refused = False  # Kafka refused the last reads (said when it allows them again)
        refusal_logs.install()
        self.ledger = Ledger()
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.in_flight: deque[asyncio.Task[None]] = deque()
        self.deciding: deque[asyncio.Task[None]] = deque()  # read, not yet sent (in order)
        self.partitioner = KeyPartitioner()
        self._known_partitions: dict[str, tuple[float, list[int]]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._revoking = False
        self._leaving = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._last: tuple[asyncio.Task[None], Batch] | None = None  # the newest in flight
        self._to_commit: Read | None = None  # delivered (in order), not committed yet
        self._committer: asyncio.Task[None] | None = None
        self.commit_every = commit_every
        self._last_commit = 0.0  # (monotonic) when the last commit started
        self._hurry = asyncio.Event()  # set: commit what is delivered now (revoke, stop)
        self._draining = 0  # drains under way (a revocation and a stop may overlap)
        self.timed = stages.enabled()

    # ------------------------------------------------------------------ lifecycle
    async def on_start(self) -> None:
        servers = bootstrap(self.broker)
        self.producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=1,
                                         max_batch_size=MAX_BATCH_BYTES, **kafka_options())
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=servers, group_id=self.group, enable_auto_commit=False,
            auto_offset_reset="earliest", session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000, rebalance_timeout_ms=20_000,
            fetch_max_wait_ms=FETCH_WAIT_MS, **kafka_options())
        await self.producer.start()
        await self.consumer.start()
        self.consumer.subscribe([self.topic], listener=_Listener(self))

    async def on_started(self) -> None:
        collector.settle()  # started: what the process holds now stays (see collector.py)
        self._loop_task = asyncio.create_task(self._run())

    async def on_stop(self) -> None:
        """Finish the batch being decided and the deliveries in flight, commit, leave."""
        self._leaving.set()
        if self._loop_task is not None:
            done, _ = await asyncio.wait([self._loop_task], timeout=STOP_WAIT)
            if not done:  # held (Redis down): nothing of it is committed
                self._loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._loop_task
        await self._drain(STOP_WAIT)
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()

    # ------------------------------------------------------------------ the loop
    async def _run(self) -> None:
        assert self.consumer is not None
        try:
            while not self._leaving.is_set():
                while len(self.deciding) > self.read_ahead:  # (a batch held holds the reading)
                    await asyncio.wait([self.deciding[0]])
                try:
                    fetched = await self.consumer.getmany(timeout_ms=self.within_ms,
                                                          max_records=self.batch_size)
                except Exception as exc:  # noqa: BLE001 - (aiokafka retries what it can)
                    refusal = explain(exc)
                    if refusal is None:
                        self.runner.failures.unexpected("reading requests", exc)
                    else:
                        self.runner.failures.refused("reading requests", refusal)
                    self._refused = self._refused or refusal is not None
                    await asyncio.sleep(1.0)
                    continue
                if self._refused:
                    self._refused = False
                    log.warning("reading requests resumed: Kafka allows it again")
                if not fetched or self._revoking or self._leaving.is_set():
                    continue  # (read during a revocation: read again from the last commit)
                self._read(fetched)
            while self.deciding:  # stopping: the batches read are decided and sent first
                await asyncio.wait(list(self.deciding))
        except asyncio.CancelledError:  # (stopped while held: nothing of them is committed)
            for task in self.deciding:
                task.cancel()
            raise

    def _read(self, fetched: dict[Any, list[Any]]) -> None:
        """Start deciding a batch just read: in order, after the batches read before it."""
        records = [Incoming(r.key, r.value, r.topic, r.partition, r.offset)
                   for items in fetched.values() for r in items]
        batch = Batch(records, self.ledger.read(fetched), time.perf_counter(),
                      timeline=stages.begin(self.timed))
        if self.on_read is not None:
            try:
                self.on_read(records)
            except Exception as exc:  # noqa: BLE001 - a hint: deciding asks again itself
                self.runner.failures.unexpected("starting a batch", exc)
        before = self.deciding[-1] if self.deciding else None
        task = asyncio.create_task(self._one(batch, before))
        self.deciding.append(task)
        self._idle.clear()
        task.add_done_callback(self._decided)
        task.add_done_callback(_report)

    def _decided(self, task: asyncio.Task[None]) -> None:
        self.deciding.remove(task)
        if not self.deciding:
            self._idle.set()

    async def _one(self, batch: Batch, before: asyncio.Task[None] | None) -> None:
        if before is not None and not before.done():  # its turn: the one before is sent
            with stages.stage("turn"):
                await asyncio.wait([before])
        with stages.stage("deciding"):
            batch.outputs = await self.runner.until_done(lambda: self._decide(batch),
                                                         "requests")
        if batch.abandoned:
            return
        with stages.stage("wait slot"):
            while True:
                while self.in_flight and self.in_flight[0].done():
                    self.in_flight.popleft()
                if len(self.in_flight) < IN_FLIGHT:
                    break
                await asyncio.wait([self.in_flight[0]])
        try:
            with stages.stage("send"):
                futures: list[asyncio.Future[Any]] | None = await self._send(batch.outputs)
        except Exception as exc:  # noqa: BLE001 - not handed over (a full buffer...)
            self.runner.failures.broker_unavailable(exc, 0.0)
            futures = None  # _finish delivers them again, and holds the loop meanwhile
        previous = self._last
        task = asyncio.create_task(self._finish(batch, futures, previous))
        self._last = (task, batch)
        self.in_flight.append(task)
        task.add_done_callback(_report)

    async def _decide(self, batch: Batch) -> list[Outgoing]:
        if batch.read.epoch != self.ledger.epoch:  # revoked while held: the next owner
            batch.abandoned = True                # decides it
            return []
        return await self.decide(batch.records)

    async def _send(self, outputs: Sequence[Outgoing]) -> list[asyncio.Future[Any]]:
        """Hand ``outputs`` to the producer as one record batch per topic and partition (in
        output order within each), without waiting for the acknowledgements: a record
        batch costs one call, where ``send`` per message cost the loop more than a check."""
        assert self.producer is not None
        producer = self.producer
        builders: dict[tuple[str, int], Any] = {}
        futures: list[asyncio.Future[Any]] = []
        places: dict[str, tuple[str, list[int]]] = {}  # kind -> topic and its partitions
        for output in outputs:
            place = places.get(output.kind)
            if place is None:
                topic = self.topics[output.kind]
                place = places[output.kind] = (topic, await self._partitions(topic))
            topic, partitions = place
            slot = (topic, self.partitioner(output.key, partitions, partitions))
            builder = builders.get(slot)
            if builder is None:
                builder = builders[slot] = producer.create_batch()
            headers = list(output.headers)
            if builder.append(timestamp=None, key=output.key, value=output.value,
                              headers=headers) is None:  # full: send it, start the next
                builder.close()
                futures.append(await producer.send_batch(builder, slot[0], partition=slot[1]))
                builder = builders[slot] = producer.create_batch()
                builder.append(timestamp=None, key=output.key, value=output.value,
                               headers=headers)  # (an empty batch takes any one record)
        for (topic, partition), builder in builders.items():
            builder.close()  # whole: no linger
            futures.append(await producer.send_batch(builder, topic, partition=partition))
        return futures

    async def _partitions(self, topic: str) -> list[int]:
        """The topic's partitions (looked up again every ``PARTITIONS_FOR`` seconds)."""
        assert self.producer is not None
        known = self._known_partitions.get(topic)
        if known is None or time.monotonic() - known[0] > PARTITIONS_FOR:
            partitions = sorted(await self.producer.partitions_for(topic))
            known = self._known_partitions[topic] = (time.monotonic(), partitions)
        return known[1]

    async def produce(self, outputs: Sequence[Outgoing]) -> None:
        """Send ``outputs`` and wait for every acknowledgement (the runner's ``deliver``)."""
        await asyncio.gather(*await self._send(outputs))

    async def _finish(self, batch: Batch, futures: list[asyncio.Future[Any]] | None,
                      previous: tuple[asyncio.Task[None], Batch] | None) -> None:
        try:
            with stages.stage("acks"):
                if futures is None:
                    raise KafkaError("the outputs were not handed to the producer")
                await asyncio.gather(*futures)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any produce failure: send the lot again
            self.runner.failures.broker_unavailable(exc, 0.0)
            await self.runner.deliver(batch.outputs)
        if previous is not None:  # commit in batch order, and only behind delivered ones
            with stages.stage("in order"), contextlib.suppress(Exception):
                await asyncio.shield(previous[0])
            if not previous[1].delivered:
                return  # (stopped half-way: the next owner reads both again; this one stays
                #          undelivered too, so no later batch commits past the gap)
        batch.delivered = True
        self._deliverable(batch.read)
        if batch.timeline is not None:
            batch.timeline.add("total", time.perf_counter() - batch.started)
            batch.timeline.observe()
        if self.finished is not None:
            try:
                self.finished(batch.records, batch.outputs, time.perf_counter() - batch.started)
            except Exception as exc:  # noqa: BLE001 - metrics must not stop the commits
                self.runner.failures.unexpected("counting a batch", exc)

    def _deliverable(self, read: Read) -> None:
        """``read``'s batch and every one before it are delivered (called in batch order):
        its offsets join those waiting for the committer, which it starts when idle."""
        waiting = self._to_commit
        if waiting is not None and waiting.epoch == read.epoch:  # later offsets win
            read = Read(read.epoch, {**waiting.offsets, **read.offsets})
        self._to_commit = read
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting())
            self._committer.add_done_callback(_report)

    async def _commit_waiting(self) -> None:
        """One commit at a time, each of every offset delivered until it starts, at most
        one every ``commit_every`` seconds (at once when hurried: a revocation, a stop)."""
        while self._to_commit is not None:
            wait = self._last_commit + self.commit_every - time.monotonic()
            if wait > 0 and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._hurry.wait()
            read, self._to_commit = self._to_commit, None
            self._last_commit = time.monotonic()
            await self._commit(read)

    async def _commit(self, read: Read) -> None:
        assert self.consumer is not None
        offsets = self.ledger.committable(read)
        if not offsets:
            return
        started = time.perf_counter()
        try:
            await self.consumer.commit(offsets)
            if self.timed:
                stages.observe("commit", time.perf_counter() - started)
        except (CommitFailedError, IllegalStateError) as exc:
            log.info("offsets not committed (the partitions were revoked meanwhile; the "
                     "next owner replays them): %s", exc)
            return
        except KafkaError as exc:  # the next batch's commit covers these offsets
            log.warning("offset commit failed: %s", exc)
            return
        self.ledger.done(read, offsets)

    async def _drain(self, timeout: float) -> None:
        """Wait (up to ``timeout``) for the batches in flight and their commit, made at
        once (not after the commit interval)."""
        started = time.monotonic()
        self._draining += 1
        self._hurry.set()
        try:
            if self.in_flight:
                await asyncio.wait(list(self.in_flight), timeout=timeout)
            committer = self._committer
            left = timeout - (time.monotonic() - started)
            if committer is not None and not committer.done() and left > 0:
                await asyncio.wait([committer], timeout=left)
        finally:
            self._draining -= 1
            if not self._draining:  # (another drain still under way keeps it hurried)
                self._hurry.clear()

    # ------------------------------------------------------------------ rebalances
    async def revoked(self, partitions: Any) -> None:
        self._revoking = True
        try:
            async with asyncio.timeout(REVOKE_WAIT):
                await self._idle.wait()
                await self._drain(REVOKE_WAIT)
        except TimeoutError:
            log.warning("partitions revoked while a batch is held: its offsets will not be "
                        "committed, and the next owner reads it again")
        self.ledger.revoke()
        log.info("hot loop: partitions revoked: %s", _names(partitions))

    def assigned(self, partitions: Any) -> None:
        self.ledger.assign(partitions)
        self._revoking = False
        log.info("hot loop: assigned %s", _names(partitions))

    def partitions(self) -> list[int]:
        """The request partitions held now (none while a rebalance revokes them): the
        deferral schedules this worker releases (``gatekeeper/deferral/service.py``)."""
        if self.consumer is None or self._revoking:
            return []
        return sorted(tp.partition for tp in self.consumer.assignment()
                      if tp.topic == self.topic)


class KeyPartitioner:
    """aiokafka's default partitioner (murmur2 of the key, as faust's and Java's), with each
    key's hash remembered: a debtor's messages all hash the same key, and murmur2 is pure
    Python in aiokafka. The loop places its record batches with it."""

    def __init__(self) -> None:
        self._default = DefaultPartitioner()
        self._hash = lru_cache(maxsize=1 << 17)(murmur2)

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]
                 ) -> int:
        if key is None:
            return int(self._default(key, all_partitions, available))
        return all_partitions[(int(self._hash(key)) & 0x7FFFFFFF) % len(all_partitions)]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: RequestLoop):
        self.loop = loop

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.loop.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.loop.assigned(assigned)


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a batch's delivery failed unexpectedly", exc_info=task.exception())


def _names(partitions: Any) -> str:
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)) or "none"
