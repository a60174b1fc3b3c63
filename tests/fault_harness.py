"""Shared machinery of the fault-injection suite: the seeded traffic (gatekeeper.traffic's
fault profile), a background producer, progress waits on the output topics, and the invariant
check at the end.

Quick mode (default, for CI) streams a few thousand requests per fault; soak mode
(``GK_SOAK=1``) streams tens of thousands, ``GK_SOAK_REQUESTS`` to set the number.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from gatekeeper import traffic

SOAK = os.environ.get("GK_SOAK", "") == "1"
REQUESTS = int(os.environ.get("GK_SOAK_REQUESTS", "40000")) if SOAK else 4000
OUTPUTS = ("contact.allowed", "contact.review", "contact.invalid")

FAULT_PACK = """
pack: faults
title: limits of every shape, and hours on a channel whose zone the request fixes
applies_to: ["*"]
rules:
  - id: calls-per-day-per-number
    kind: limit
    citation: test
    channels: [call]
    max: 2
    window: {calendar: day}
    per: [destination]
  - id: calls-7-in-7-per-debt
    kind: limit
    citation: test
    channels: [call]
    max: 5
    window: {rolling_days: 7}
    per: [debt]
  - id: letters-per-month
    kind: limit
    citation: test
    channels: [letter]
    max: 2
    window: {calendar: month}
  - id: email-hours
    kind: hours
    citation: test
    channels: [email]
    windows: {daily: ["08:00-21:00"]}
  - id: opt-outs
    kind: opt_out
    citation: test
"""


class Traffic(traffic.Traffic):
    """The suite's seeded requests (gatekeeper.traffic.fault_profile): a few hot debtors,
    calls, emails and letters, day and night zones."""

    def __init__(self, seed: int, debtors: int = 2000):
        super().__init__(traffic.fault_profile(), debtors, seed=seed, run="q")


async def stream(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]],
                 rate: float = 0.0) -> None:
    """Produce every message (at ``rate`` per second when given), waiting for every ack."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        started = time.monotonic()
        futures = []
        for i, (key, value) in enumerate(messages):
            futures.append(await producer.send(topic, value, key=key))
            if rate and i % 50 == 0:
                ahead = i / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def output_count(bootstrap: str, prefix: str) -> int:
    """Messages on the three output topics now (sum of end offsets)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    await asyncio.sleep(0)
    try:
        tps = []
        for topic in OUTPUTS:
            for partition in consumer.partitions_for_topic(prefix + topic) or ():
                tps.append(TopicPartition(prefix + topic, partition))
        if not tps:
            await consumer._client.force_metadata_update()
            for topic in OUTPUTS:
                for partition in consumer.partitions_for_topic(prefix + topic) or ():
                    tps.append(TopicPartition(prefix + topic, partition))
        return sum((await consumer.end_offsets(tps)).values()) if tps else 0
    finally:
        await consumer.stop()


async def wait_outputs(bootstrap: str, prefix: str, at_least: int, timeout: float = 240.0,
                       alive: Callable[[], bool] | None = None) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = await output_count(bootstrap, prefix)
        if count >= at_least:
            return count
        if alive is not None and not alive():
            raise AssertionError("the worker died")
        await asyncio.sleep(0.5)
    raise AssertionError(f"only {count} of {at_least} outputs after {timeout}s")


async def check_invariants(bootstrap: str, prefix: str, policy_path: str) -> Any:
    from gatekeeper.invariants import check_topics
    from gatekeeper.policy import load_policy
    from gatekeeper.settings import Settings

    topics = Settings.from_env({"GATEKEEPER_TOPIC_PREFIX": prefix}).topics
    return await check_topics(bootstrap, topics, load_policy([policy_path]))
