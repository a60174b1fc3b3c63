"""``GET /v1/decisions/{request_id}?debtor_id=D``: a recorded decision, on either path.

A decision lives in two places: its record in the debtor's Redis hash (``r<request
tag>``: status, time, counts; kept for one to two decision TTLs, restored by a rebuild), and
the full Decision on ``contact.decisions`` (kept for the record retention). The record says
whether and when the request was decided; the Decision is then read from Kafka at the offset
of that time (``offsets_for_times``), so a lookup reads a few messages, not the topic.

Why the caller names the debtor: the record is found only under the debtor's key (one hash
per debtor, one Redis Cluster slot), and every caller knows the debtor of its own request. An
index by request id would be a second write per check, outside the atomic decision step; it
would not cover the stream's decisions unless the worker wrote it too, and a rebuild would
have to restore it. Decisions of this process still waiting for Kafka are answered from
memory by the caller (``AuditSink.held_decision``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from gatekeeper.brokers import bootstrap
from gatekeeper.counters import wire
from gatekeeper.counters.keys import counters_key, record_field
from gatekeeper.gate import Gate
from gatekeeper.kafka_security import kafka_options
from gatekeeper.model import Decision
from gatekeeper.topics import partitions_of

log = logging.getLogger("gatekeeper.http.lookup")
BEFORE_MS = 5_000  # the record's time is the evaluation; its message is produced after it
AFTER_MS = 120_000  # ... normally within a second; later when Kafka was away
MAX_SCAN = 20_000  # messages read at most per lookup


class DecisionLookup:
    def __init__(self, broker: str, topic: str, gate: Gate):
        self.broker = broker
        self.topic = topic
        self.gate = gate
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._lock = asyncio.Lock()

    async def record(self, request_id: str, debtor_id: str, now: datetime) -> str | None:
        """The stored record of a request id in the debtor's hash (None: none on record)."""
        found = await self.gate.store.read([
            ("HGET", counters_key(debtor_id), record_field(request_id))])
        return wire.current_record(found[0], now, self.gate.ttls.decision_seconds)

    async def decision(self, request_id: str, debtor_id: str, record: str
                       ) -> Decision | None:
        """The Decision on contact.decisions near the record's time (None: not found)."""
        at_ms = wire.to_ms(wire.Record.parse_stored(record).time)
        async with self._lock:  # one consumer, one lookup at a time
            consumer = await self._start()
            if not self._partitions:
                numbers = (await partitions_of(self.broker, [self.topic])).get(self.topic, [])
                self._partitions = [TopicPartition(self.topic, n) for n in numbers]
            partitions = self._partitions
            if not partitions:
                return None
            consumer.assign(partitions)
            consumer.pause(*partitions)  # no fetch in flight ahead of the offset requests
            starts = await consumer.offsets_for_times({tp: at_ms - BEFORE_MS
                                                       for tp in partitions})
            ends = await consumer.end_offsets(partitions)
            left = set()
            for tp in partitions:
                start = starts.get(tp)
                if start is not None and start.offset < ends[tp]:
                    consumer.seek(tp, start.offset)
                    left.add(tp)
            consumer.resume(*left)
            try:
                return await self._scan(consumer, left, ends, request_id, debtor_id, at_ms)
            finally:
                consumer.pause(*partitions)

    async def _scan(self, consumer: AIOKafkaConsumer, left: set[TopicPartition],
                    ends: dict[TopicPartition, int], request_id: str, debtor_id: str,
                    at_ms: int) -> Decision | None:
        needle = b'"request_id":' + orjson.dumps(request_id)
        read = 0
        while left and read < MAX_SCAN:
            batches = await consumer.getmany(*left, timeout_ms=1000, max_records=2000)
            if not batches:
                break
            for tp, messages in batches.items():
                for message in messages:
                    read += 1
                    if message.timestamp > at_ms + AFTER_MS or message.offset >= ends[tp]:
                        left.discard(tp)
                        break
                    if message.value and needle in message.value:
                        decision = _matching(message.value, request_id, debtor_id)
                        if decision is not None:
                            return decision
                if tp in left and await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
        return None

    async def _start(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(self.broker),
                                        group_id=None, enable_auto_commit=False,
                                        request_timeout_ms=10_000, fetch_max_wait_ms=20,
                                        **kafka_options())
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


def _matching(value: bytes, request_id: str, debtor_id: str) -> Decision | None:
    try:
        body = orjson.loads(value)
        decision: Decision = body["decision"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if decision.get("request_id") == request_id and decision.get("debtor_id") == debtor_id:
        return decision
    return None
