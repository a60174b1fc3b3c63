"""The audit chain on Kafka: ship the outbox to the audit topic, and read it back to verify.

One writer ships (the console): records leave the accounts database in ``seq`` order, each
acknowledged by Kafka before it is marked sent, all with the same key (one partition keeps
their order). A crash between the acknowledgement and the mark sends a record twice; the
verifier skips such a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from gatekeeper.access_errors import explain
from gatekeeper.brokers import bootstrap
from gatekeeper.console import audit
from gatekeeper.console.accounts import Accounts
from gatekeeper.kafka_security import kafka_options
from gatekeeper.topics import partitions_of

log = logging.getLogger("gatekeeper.console.audit")
KEY = b"audit"
FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}


async def ensure_topic(broker: str, topic: str) -> None:
    """Create the audit topic (one partition, kept forever) when it is missing."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(broker), request_timeout_ms=10000,
                                **kafka_options())
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=FOREVER)])
    finally:
        await admin.close()


async def ship(accounts: Accounts, producer: AIOKafkaProducer, topic: str,
               wake: asyncio.Event, *, interval: float = 1.0) -> None:
    """Send unsent records in order, forever (until cancelled)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            pending = await loop.run_in_executor(None, accounts.unsent)
            for seq, value in pending:
                await producer.send_and_wait(topic, value, key=KEY)
                await loop.run_in_executor(None, accounts.mark_sent, [seq])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Kafka comes back; the outbox keeps them
            log.warning("audit records wait in the outbox: %s",
                        explain(exc) or f"{type(exc).__name__}: {exc}")
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), interval)


async def read_chain(broker: str, topic: str, *, timeout: float = 10.0
                     ) -> list[tuple[str, bytes | None]]:
    """Every record of the audit topic up to its end now, in order, with its position."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(broker), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                request_timeout_ms=int(timeout * 1000), **kafka_options())
    await asyncio.wait_for(consumer.start(), timeout)
    try:
        partitions = (await partitions_of(broker, [topic])).get(topic)
        if not partitions:
            raise LookupError(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[tuple[int, int, str, bytes | None]] = []
        left = {tp for tp in tps if ends[tp] > 0}
        while left:
            fetched = await consumer.getmany(*left, timeout_ms=1000)
            for tp, records in fetched.items():
                for r in records:
                    if r.offset < ends[tp]:
                        out.append((r.timestamp, r.offset, f"{topic}[{tp.partition}]@{r.offset}",
                                    r.value))
            for tp in list(left):
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
    finally:
        await consumer.stop()
    if len(tps) > 1:  # several partitions (made by hand): the chain's own order
        out.sort(key=lambda item: _seq(item[3]))
    return [(where, value) for _, _, where, value in out]


def _seq(value: bytes | None) -> int:
    import orjson

    try:
        return int(orjson.loads(value or b"")["seq"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return -1


async def verify_topic(broker: str, topic: str) -> audit.Verdict:
    return audit.verify(await read_chain(broker, topic))
