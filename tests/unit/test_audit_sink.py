"""The audit buffer's bookkeeping (no Kafka here: integration tests freeze a real broker)."""

from __future__ import annotations

import asyncio

from gatekeeper.http.audit import AuditSink
from gatekeeper.stream.routing import Outgoing

RECORD = [Outgoing("decisions", b"d", b"{}")]


def sink(capacity: int = 2, ack_wait: float = 0.05) -> AuditSink:
    return AuditSink("kafka://unused:1", {"decisions": "t"}, capacity, ack_wait=ack_wait)


def decision(n: int) -> dict[str, str]:
    return {"request_id": f"r-{n}", "debtor_id": "d"}


async def test_room_is_reserved_before_deciding_and_refused_when_full() -> None:
    audit = sink(capacity=2)
    first, second = audit.reserve(), audit.reserve()
    assert first is not None and second is not None
    assert audit.reserve() is None  # two checks may wait for Kafka, not three
    audit.release(second)
    audit.release(second)  # releasing twice frees one room only
    third = audit.reserve()
    assert third is not None and audit.reserve() is None
    audit.put(first, RECORD, decision(1))  # the entry takes the room it reserved
    audit.release(first)  # a no-op now
    assert audit.held == 1 and audit.reserve() is None
    assert audit.held_decision("r-1") == decision(1) and audit.held_decision("r-2") is None


async def test_a_batch_is_settled_when_its_last_entry_is_acknowledged() -> None:
    audit = sink(ack_wait=5)
    entries = [audit.put(audit.reserve(), RECORD, decision(n)) for n in range(2)]  # type: ignore[arg-type]
    settled = audit.settled(entries)
    await asyncio.sleep(0.01)
    assert not settled.done()
    entries[-1].delivered.set_result(None)
    await asyncio.sleep(0)
    assert settled.done()


async def test_while_kafka_is_silent_a_batch_waits_ack_wait_then_not_at_all() -> None:
    audit = sink(ack_wait=0.05)
    first = [audit.put(audit.reserve(), RECORD, decision(1))]  # type: ignore[arg-type]
    started = asyncio.get_running_loop().time()
    await audit.settled(first)  # no acknowledgement comes: answered after ack_wait
    assert 0.04 < asyncio.get_running_loop().time() - started < 1
    assert not audit.healthy  # the oldest held entry waited longer than ack_wait
    second = [audit.put(audit.reserve(), RECORD, decision(2))]  # type: ignore[arg-type]
    assert audit.settled(second).done()  # no waiting while Kafka is silent
