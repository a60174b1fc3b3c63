"""The events topic's end offsets, asked on a Kafka connection of their own.

A broker answers one connection's requests in order, so a ListOffsets request sent on the
events reader's connection waits behind the reader's fetch when one is in flight (it
long-polls up to ``fetch_max_wait_ms`` after a catch-up read something). A consumer that only
ever asks for end offsets (no group, nothing assigned, nothing fetched) has a connection
where nothing waits ahead of them.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from gatekeeper.brokers import bootstrap
from gatekeeper.kafka_security import kafka_options


class EndOffsets:
    def __init__(self, broker: str):
        self.broker = broker
        self._consumer: AIOKafkaConsumer | None = None

    async def ask(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The partitions' end offsets now: one ListOffsets request (a failure stops the
        consumer: the next call starts a new one)."""
        if self._consumer is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(self.broker),
                                        group_id=None, enable_auto_commit=False,
                                        **kafka_options())
            await consumer.start()
            self._consumer = consumer
        try:
            ends: dict[TopicPartition, int] = await self._consumer.end_offsets(partitions)
        except BaseException:
            await self.stop()
            raise
        return ends

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
