"""The HTTP API's producer: audit records (contact.decisions, contact.review) held until Kafka
acknowledges them, and events and outcomes produced before they are answered.

Every decision of a check leaves an entry: its record for contact.decisions (with the
``gk-record`` header a rebuild restores) and, when blocked, its row for contact.review. The
entries wait in memory, in order, until Kafka acknowledges them; while Kafka answers, a check
waits for its own acknowledgement (up to ``audit_wait``) before it is answered, so that an
answered check is on the record. While Kafka does not answer, checks are still decided and
answered, and their entries wait here, at most ``capacity`` of them: a check that finds no
room is not decided (``reserve`` refuses; the API answers 503). Entries are delivered in
order when Kafka is back. The producer is idempotent (it retries without duplicating), so
an entry is written once; only a failure that the producer gives up on makes this module send
it again (at least once: a rebuild counts a decision recorded twice once).

What can be lost: entries still held when the process dies (a crash during a Kafka outage).
Their counts are in Redis; they would be missing only from a later rebuild.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from gatekeeper.brokers import bootstrap
from gatekeeper.errors import GatekeeperError
from gatekeeper.http import metrics
from gatekeeper.kafka_security import kafka_options
from gatekeeper.model import Decision
from gatekeeper.stream.routing import Outgoing

log = logging.getLogger("gatekeeper.http.audit")
CHUNK = 500
MAX_BACKOFF = 5.0
PARTITIONER = DefaultPartitioner()  # the producer's: murmur2 of the key, as Java's
PARTITION_CACHE = 100_000  # (key, partition count) -> partition, remembered


class KafkaUnavailable(GatekeeperError):
    """Kafka did not acknowledge in time."""

    retriable = True


@dataclass
class Reservation:
    """Room for one entry, taken before a check is decided."""

    used: bool = False


@dataclass
class Entry:
    outputs: list[Outgoing]
    decision: Decision
    queued_at: float = field(default_factory=time.monotonic)
    delivered: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class AuditSink:
    def __init__(self, broker: str, topics: dict[str, str], capacity: int, *,
                 ack_wait: float = 1.0):
        self.broker = broker
        self.topics = topics
        self.capacity = capacity
        self.ack_wait = ack_wait
        self.producer: AIOKafkaProducer | None = None
        self._queue: deque[Entry] = deque()
        self._by_request: dict[str, Entry] = {}
        self._reserved = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self._partitions: dict[tuple[bytes, int], int] = {}

    async def start(self) -> None:
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap(self.broker), acks="all", enable_idempotence=True,
            linger_ms=0,  # a batch's records are all appended before the sender runs
            max_batch_size=256 * 1024, request_timeout_ms=10_000, **kafka_options())
        await self.producer.start()
        self._task = asyncio.create_task(self._run())

    @property
    def held(self) -> int:
        """Entries not yet acknowledged by Kafka."""
        return len(self._queue)

    @property
    def healthy(self) -> bool:
        """Kafka acknowledges: nothing has been waiting longer than ``ack_wait``."""
        return not self._queue or time.monotonic() - self._queue[0].queued_at < self.ack_wait

    def reserve(self) -> Reservation | None:
        """Room for one more entry, or None when ``capacity`` entries are held already."""
        if len(self._queue) + self._reserved >= self.capacity:
            return None
        self._reserved += 1
        return Reservation()

    def release(self, reservation: Reservation) -> None:
        if not reservation.used:
            reservation.used = True
            self._reserved -= 1

    def put(self, reservation: Reservation, outputs: list[Outgoing],
            decision: Decision) -> Entry:
        """Queue a check's audit entry in the room reserved for it."""
        self.release(reservation)
        entry = Entry(outputs, decision)
        self._queue.append(entry)
        self._by_request[decision["request_id"]] = entry
        metrics.AUDIT_HELD.set(len(self._queue))
        self._wake.set()
        return entry

    def settled(self, entries: list[Entry]) -> asyncio.Future[None]:
        """Done when the entries (of one batch) are on Kafka, or, while Kafka does not
        answer, at once or after ``ack_wait``: what a batch's checks wait for before they
        are answered. Entries are acknowledged in order, so the last one's ack is all of
        theirs; one timer per batch, not per check."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        last = entries[-1].delivered if entries else None
        if last is None or last.done() or not self.healthy:
            done.set_result(None)
            return done

        def settle(*_: object) -> None:
            timer.cancel()
            if not done.done():
                done.set_result(None)

        timer = loop.call_later(self.ack_wait, settle)
        last.add_done_callback(settle)
        return done

    def held_decision(self, request_id: str) -> Decision | None:
        """A decision whose record is still held here (not yet on Kafka)."""
        entry = self._by_request.get(request_id)
        return entry.decision if entry is not None else None

    async def produce(self, kind: str, key: bytes, value: bytes, timeout: float = 5.0
                      ) -> RecordMetadata:
        """Produce one message and wait for Kafka's acknowledgement (``KafkaUnavailable``
        when it does not come within ``timeout``)."""
        assert self.producer is not None, "start() first"
        try:
            return await asyncio.wait_for(
                self.producer.send_and_wait(self.topics[kind], value, key=key), timeout)
        except Exception as exc:  # noqa: BLE001 - a timeout or any produce failure
            metrics.KAFKA_ERRORS.inc()
            raise KafkaUnavailable(f"Kafka did not acknowledge the message on "
                                   f"{self.topics[kind]} within {timeout:.0f} s "
                                   f"({type(exc).__name__})") from None

    async def drain(self, timeout: float) -> bool:
        """Wait until every held entry is on Kafka (True), or ``timeout`` (False)."""
        deadline = time.monotonic() + timeout
        while self._queue and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self._queue

    async def _run(self) -> None:
        assert self.producer is not None
        delay = 0.1
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            chunk = [self._queue[i] for i in range(min(CHUNK, len(self._queue)))]
            try:
                await asyncio.gather(*await self._send([o for entry in chunk
                                                        for o in entry.outputs]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - held and sent again: nothing is dropped
                metrics.KAFKA_ERRORS.inc()
                log.warning("audit records not acknowledged (%s); %d held, retrying in %.1fs",
                            exc, len(self._queue), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            delay = 0.1
            for entry in chunk:
                self._queue.popleft()
                if self._by_request.get(entry.decision["request_id"]) is entry:
                    del self._by_request[entry.decision["request_id"]]
                if not entry.delivered.done():
                    entry.delivered.set_result(None)
            self.delivered += len(chunk)
            metrics.AUDIT_HELD.set(len(self._queue))

    async def _send(self, outputs: list[Outgoing]) -> list[asyncio.Future[Any]]:
        """Hand the records to the producer as one batch per topic partition (a record per
        ``send`` costs several times more: a metadata wait, a future and a partitioner call
        each); the partition is the producer's own choice for the key. The futures are done
        when Kafka acknowledges each batch."""
        assert self.producer is not None
        batches: dict[tuple[str, int], BatchBuilder] = {}
        futures = []
        partitions: dict[str, list[int]] = {}
        for output in outputs:
            topic = self.topics[output.kind]
            if topic not in partitions:
                partitions[topic] = sorted(await self.producer.partitions_for(topic))
            partition = self._partition_of(output.key, partitions[topic])
            batch = batches.get((topic, partition))
            while batch is None or batch.append(key=output.key, value=output.value,
                                                timestamp=None,
                                                headers=list(output.headers)) is None:
                if batch is not None:  # full: on its way, and a new one for this partition
                    futures.append(await self.producer.send_batch(batch, topic,
                                                                  partition=partition))
                batch = batches[(topic, partition)] = self.producer.create_batch()
        for (topic, partition), batch in batches.items():
            batch.close()
            futures.append(await self.producer.send_batch(batch, topic, partition=partition))
        return futures

    def _partition_of(self, key: bytes | None, partitions: list[int]) -> int:
        if key is None:
            return int(PARTITIONER(None, partitions, partitions))
        found = self._partitions.get((key, len(partitions)))
        if found is None:
            if len(self._partitions) >= PARTITION_CACHE:
                self._partitions.clear()
            found = self._partitions[(key, len(partitions))] = int(
                PARTITIONER(key, partitions, partitions))
        return found

    async def stop(self, timeout: float = 10.0) -> None:
        """Deliver what is held (up to ``timeout``), then stop the producer."""
        if not await self.drain(timeout):
            log.error("stopping with %d audit records not acknowledged by Kafka: they are "
                      "lost from the record (their counts are in Redis)", len(self._queue))
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.producer is not None:
            try:
                await asyncio.wait_for(self.producer.stop(), timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - stopping anyway
                log.warning("the Kafka producer did not stop cleanly: %s", exc)
