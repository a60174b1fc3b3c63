"""The audit buffer's bookkeeping (no Kafka here: integration tests freeze a real broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

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


class Sends:
    """Stands for the producer: each chunk handed over, with the future of its ack."""

    def __init__(self) -> None:
        self.chunks: list[tuple[list[bytes], asyncio.Future[None]]] = []

    async def __call__(self, outputs: Sequence[Outgoing]) -> list[asyncio.Future[Any]]:
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.chunks.append(([o.value for o in outputs], ack))
        return [ack]


def running(audit: AuditSink, monkeypatch: pytest.MonkeyPatch) -> tuple[Sends, asyncio.Task[None]]:
    sends = Sends()
    monkeypatch.setattr(audit, "_send", sends)
    monkeypatch.setattr(audit, "producer", object())
    return sends, asyncio.create_task(audit._run())


def put(audit: AuditSink, n: int) -> Any:
    return audit.put(audit.reserve(), [Outgoing("decisions", b"d", b"%d" % n)],  # type: ignore[arg-type]
                     decision(n))


async def test_a_chunk_goes_before_the_previous_is_acknowledged_and_acks_settle_in_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    audit = sink(capacity=10, ack_wait=5)
    sends, task = running(audit, monkeypatch)
    first = put(audit, 1)
    await asyncio.sleep(0.01)
    second = put(audit, 2)
    await asyncio.sleep(0.01)
    assert [values for values, _ in sends.chunks] == [[b"1"], [b"2"]]  # both with Kafka
    sends.chunks[1][1].set_result(None)
    await asyncio.sleep(0.01)
    assert not second.delivered.done() and audit.held == 2  # not before the first
    sends.chunks[0][1].set_result(None)
    await asyncio.sleep(0.01)
    assert first.delivered.done() and second.delivered.done() and audit.held == 0
    task.cancel()


async def test_a_failed_chunk_is_sent_again_with_the_ones_after_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    audit = sink(capacity=10, ack_wait=5)
    sends, task = running(audit, monkeypatch)
    first = put(audit, 1)
    await asyncio.sleep(0.01)
    second = put(audit, 2)
    await asyncio.sleep(0.01)
    sends.chunks[0][1].set_exception(ConnectionError("broker gone"))
    sends.chunks[1][1].set_result(None)  # it may be on Kafka: sent again all the same
    await asyncio.sleep(0.2)  # the retry's back-off
    assert [values for values, _ in sends.chunks][2:] == [[b"1", b"2"]]
    assert audit.held == 2 and not first.delivered.done()
    sends.chunks[2][1].set_result(None)
    await asyncio.sleep(0.01)
    assert first.delivered.done() and second.delivered.done() and audit.held == 0
    task.cancel()
