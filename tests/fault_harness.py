"""Shared machinery of the fault-injection suite: the seeded traffic (gatekeeper.traffic's
fault profile), a background producer, progress waits on the output topics, and the invariant
check at the end.

Quick mode (default, for CI) streams a few thousand requests per fault; soak mode
(``GK_SOAK=1``) streams tens of thousands, ``GK_SOAK_REQUESTS`` to set the number.

For the memory faults (``test_memory_faults.py``): ``MemoryTraffic`` adds debtor events
between the requests, ``fresh_opt_out_pairs`` an event just before a request for each of many
fresh debtors, and ``stream_chunks`` produces them in order, each chunk acknowledged first.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

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


# ---------------------------------------------------------------- the gate's memory (issue 9)
MEMORY_PACK = FAULT_PACK.replace("""  - id: opt-outs
    kind: opt_out
    citation: test
""", """  - id: opt-outs
    kind: opt_out
    citation: test
    except_purposes: [opt_out_confirmation]
  - id: statuses
    kind: status
    citation: test
    statuses: [cease, attorney_represented, bankruptcy, deceased]
    except_purposes: [cease_notice]
""")
EVENTS_TOPIC = "debtor.events"
Chunk = tuple[str, list[tuple[bytes, bytes]]]  # (topic without prefix, messages)


class MemoryTraffic(Traffic):
    """``Traffic`` with debtor events between the requests: opt-outs of a channel or of the
    very destination the requests use, statuses (cease, attorney per debt, bankruptcy,
    deceased) and their lifts, and requests whose purpose a rule excepts. The hot debtors
    get no permanent status, so the limits stay under load."""

    def __init__(self, seed: int, debtors: int = 2000):
        super().__init__(seed, debtors)
        self.events_made = 0

    def request(self, now: datetime | None = None) -> tuple[bytes, bytes]:
        key, value = super().request(now)
        roll = self.rng.random()
        if roll < 0.05:
            body = orjson.loads(value)
            body["purpose"] = "opt_out_confirmation" if roll < 0.025 else "cease_notice"
            value = orjson.dumps(body)
        return key, value

    @staticmethod
    def destination(debtor: traffic.Debtor, channel: str) -> str:
        """The destination the base traffic gives this debtor's requests on ``channel``."""
        return {"call": debtor.phone, "email": f"{debtor.id.lower()}@example.com",
                "letter": f"addr-{debtor.id}"}[channel]

    def memory_event(self) -> tuple[bytes, bytes]:
        rng = self.rng
        self.events_made += 1
        hot = rng.random() < 0.1
        index = rng.choice(self.hot) if hot else rng.randrange(len(self.debtors))
        debtor = self.debtors[index]
        permanent_ok = index not in self.hot
        body: dict[str, Any] = {"event_id": f"ev{self.events_made}", "debtor_id": debtor.id,
                                "occurred_at": datetime.now(UTC).isoformat()}
        channel = rng.choice(("call", "call", "email", "letter"))
        roll = rng.random()
        if roll < 0.3:
            body.update(type="opt_out", channel=channel)
        elif roll < 0.5:
            body.update(type="opt_out", channel=channel,
                        destination=self.destination(debtor, channel))
        elif roll < 0.6:
            body.update(type="opt_in", channel=channel)
        elif roll < 0.7:
            body.update(type="cease")
        elif roll < 0.8:
            body.update(type="attorney_represented",
                        debt_id=f"{debtor.id}-{chr(65 + rng.randrange(2))}")
        elif roll < 0.85:
            body.update(type="bankruptcy" if permanent_ok else "bankruptcy_closed")
        elif roll < 0.88 and permanent_ok:
            body.update(type="deceased")
        else:
            body.update(type=rng.choice(("cease_lifted", "attorney_released",
                                         "bankruptcy_closed")))
        return debtor.id.encode(), orjson.dumps(body)

    def chunks(self, requests: int, per_chunk: int = 100, events_per_chunk: int = 8
               ) -> list[Chunk]:
        """Requests in chunks, each after a chunk of events (produced and acknowledged
        first: those events bind every request after them)."""
        out: list[Chunk] = []
        while requests > 0:
            n = min(per_chunk, requests)
            out.append((EVENTS_TOPIC, [self.memory_event() for _ in range(events_per_chunk)]))
            out.append(("contact.requests", self.batch(n)))
            requests -= n
        return out


def fresh_opt_out_pairs(n: int, tag: str) -> list[Chunk]:
    """For ``n`` fresh debtors: a binding event (an opt-out of calls, an opt-out of the very
    number, or a cease), then a call to that debtor, in chunks of 10 debtors: the events are
    acknowledged before their requests are produced, and no request waits long after its
    event (the issue's report: 53 of 300 such calls were allowed)."""
    out: list[Chunk] = []
    now = datetime.now(UTC)
    day = traffic.zone_at(13)
    for start in range(0, n, 10):
        events, requests = [], []
        for i in range(start, min(start + 10, n)):
            debtor = f"fresh-{tag}-{i}"
            number = f"+4420795{i % 100000:05d}"
            event: dict[str, Any] = {"event_id": f"fe-{tag}-{i}", "debtor_id": debtor,
                                     "occurred_at": now.isoformat()}
            kind = i % 3
            if kind == 0:
                event.update(type="opt_out", channel="call")
            elif kind == 1:
                event.update(type="opt_out", channel="call", destination=number)
            else:
                event.update(type="cease")
            request = {"request_id": f"fq-{tag}-{i}", "debtor_id": debtor, "channel": "call",
                       "destination": number, "requested_at": now.isoformat(),
                       "debtor": {"timezone": day}}
            events.append((debtor.encode(), orjson.dumps(event)))
            requests.append((debtor.encode(), orjson.dumps(request)))
        out += [(EVENTS_TOPIC, events), ("contact.requests", requests)]
    return out


async def stream_chunks(bootstrap: str, prefix: str, chunks: list[Chunk],
                        seconds: float = 0.0) -> None:
    """Produce chunk after chunk, each one's acknowledgements awaited before the next is
    produced, spread evenly over ``seconds`` when given."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks="all")
    await producer.start()
    try:
        started = time.monotonic()
        for i, (topic, messages) in enumerate(chunks):
            futures = [await producer.send(prefix + topic, value, key=key)
                       for key, value in messages]
            await asyncio.gather(*futures)
            ahead = seconds * (i + 1) / len(chunks) - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
    finally:
        await producer.stop()
