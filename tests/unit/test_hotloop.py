"""The hot loop's guarantees without Kafka: a fake consumer and producer stand in for
aiokafka, so the order of sends, acknowledgements and commits can be set and observed.

* offsets are committed only after the batch's outputs (and every earlier batch's) are
  acknowledged, in batch order, while the next batch is decided meanwhile; a slow commit
  holds no batch, and the next commit covers the batches delivered meanwhile;
* a failed produce sends the batch's outputs again before anything is committed;
* a rebalance ends an epoch: a batch held across it commits nothing (and is not decided
  after it), and partitions no longer assigned are never committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import TopicPartition

from gatekeeper.errors import StoreUnavailable
from gatekeeper.stream import hotloop
from gatekeeper.stream.hotloop import RequestLoop
from gatekeeper.stream.ledger import Ledger
from gatekeeper.stream.routing import Incoming, Outgoing
from gatekeeper.stream.runner import Failures

P0, P1 = TopicPartition("req", 0), TopicPartition("req", 1)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes = b"d"
    value: bytes = b"{}"


def fetched(partition: TopicPartition, *offsets: int) -> dict[TopicPartition, list[Record]]:
    return {partition: [Record(partition.topic, partition.partition, o) for o in offsets]}


class Consumer:
    def __init__(self, batches: list[dict[TopicPartition, list[Record]]]):
        self.batches = batches
        self.commits: list[dict[TopicPartition, int]] = []
        self.log: list[str] = []

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, list[Record]]:
        await asyncio.sleep(0)
        return self.batches.pop(0) if self.batches else {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))
        self.log.append(f"commit {sorted((tp.partition, o) for tp, o in offsets.items())}")


class Builder:
    """A record batch of at most ``capacity`` records (then ``append`` answers None)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.values: list[bytes] = []
        self.closed = False

    def append(self, *, timestamp: Any, key: bytes | None, value: bytes, headers: Any
               ) -> object | None:
        if len(self.values) >= self.capacity or self.closed:
            return None
        self.values.append(value)
        return object()

    def close(self) -> None:
        self.closed = True


class Producer:
    """Each record batch's future is settled by the test (``ack``/``fail`` of one of its
    values), or at once. One record per batch unless ``capacity`` says otherwise."""

    def __init__(self, log: list[str], manual: bool = False, capacity: int = 1):
        self.log = log
        self.manual = manual
        self.capacity = capacity
        self.pending: list[tuple[list[bytes], asyncio.Future[None]]] = []
        self.sent: list[bytes] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1}

    def create_batch(self) -> Builder:
        return Builder(self.capacity)

    async def send_batch(self, batch: Builder, topic: str, *, partition: int
                         ) -> asyncio.Future[None]:
        assert batch.closed  # whole: the producer must not wait for more (linger)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for value in batch.values:
            self.sent.append(value)
            self.log.append(f"send {value.decode()}")
        if self.manual:
            self.pending.append((batch.values, future))
        else:
            future.set_result(None)
        return future

    def ack(self, value: bytes, error: Exception | None = None) -> None:
        for values, future in self.pending:
            if value in values and not future.done():
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)
                return
        raise AssertionError(f"{value!r} was not sent")


class Keeper:
    async def ensure(self) -> None:
        return None


def quiet() -> Failures:
    return Failures(store_unavailable=lambda *a: None, broker_unavailable=lambda *a: None,
                    unexpected=lambda *a: None)


def make_loop(consumer: Consumer, producer: Producer, decide: Any, commit_every: float = 0.0
              ) -> RequestLoop:
    """(Commits as soon as batches are delivered unless ``commit_every`` says otherwise.)"""
    loop = RequestLoop(broker="kafka://127.0.0.1:1", group="g", topic="req",
                       topics={"allowed": "out"}, decide=decide, keeper=Keeper(),
                       failures=quiet(), batch_size=10, within=0.001,
                       commit_every=commit_every)
    loop.consumer = consumer  # type: ignore[assignment]
    loop.producer = producer  # type: ignore[assignment]
    loop.assigned([P0, P1])
    return loop


def one_output_each(log: list[str]) -> Any:
    async def decide(batch: Sequence[Incoming]) -> list[Outgoing]:
        log.append("decide " + ",".join(f"{m.partition}@{m.offset}" for m in batch))
        return [Outgoing("allowed", m.key, f"{m.partition}@{m.offset}".encode()) for m in batch]
    return decide


async def until(condition: Any, seconds: float = 2.0) -> None:
    for _ in range(int(seconds / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("timed out")


async def stop(loop: RequestLoop, task: asyncio.Task[None]) -> None:
    loop._leaving.set()
    await asyncio.wait_for(task, 2)


def test_ledger_commits_in_order_within_an_epoch_and_nothing_of_an_ended_one() -> None:
    ledger = Ledger()
    ledger.assign([P0, P1])
    first = ledger.read(fetched(P0, 0, 1, 2))
    second = ledger.read({**fetched(P0, 3), **fetched(P1, 7)})
    assert ledger.committable(first) == {P0: 3}
    ledger.done(first, {P0: 3})
    assert ledger.committable(second) == {P0: 4, P1: 8}
    ledger.done(second, {P0: 4, P1: 8})
    assert ledger.committable(first) == {}  # never backwards
    held = ledger.read(fetched(P1, 8))
    ledger.revoke()
    ledger.assign([P1])
    assert ledger.committable(held) == {}  # read before the rebalance
    after = ledger.read({**fetched(P0, 4), **fetched(P1, 8)})
    assert ledger.committable(after) == {P1: 9}  # P0 is no longer ours


def test_the_next_batch_is_decided_while_acks_are_pending_and_commits_keep_batch_order(
        ) -> None:
    async def run() -> list[str]:
        consumer = Consumer([fetched(P0, 0, 1), fetched(P1, 5)])
        producer = Producer(consumer.log, manual=True)
        loop = make_loop(consumer, producer, one_output_each(consumer.log))
        task = asyncio.create_task(loop._run())
        await until(lambda: len(producer.pending) == 3)  # both batches decided and sent
        assert consumer.commits == []  # nothing acknowledged yet: nothing committed
        producer.ack(b"1@5")  # the second batch's ack first
        await asyncio.sleep(0.05)
        assert consumer.commits == []  # it waits for the first batch
        producer.ack(b"0@0")
        await asyncio.sleep(0.05)
        assert consumer.commits == []  # and for every output of it
        producer.ack(b"0@1")
        await until(lambda: len(consumer.commits) == 2)
        await stop(loop, task)
        return consumer.log

    log = asyncio.run(run())
    assert log == ["decide 0@0,0@1", "send 0@0", "send 0@1", "decide 1@5", "send 1@5",
                   "commit [(0, 2)]", "commit [(1, 6)]"]


def test_a_failed_produce_sends_the_batch_again_before_its_offsets_are_committed() -> None:
    async def run() -> tuple[list[str], list[bytes]]:
        consumer = Consumer([fetched(P0, 0)])
        producer = Producer(consumer.log, manual=True)
        loop = make_loop(consumer, producer, one_output_each(consumer.log))
        task = asyncio.create_task(loop._run())
        await until(lambda: len(producer.pending) == 1)
        producer.manual = False  # the second attempt is acknowledged at once
        producer.ack(b"0@0", ConnectionError("broker gone"))
        await until(lambda: consumer.commits)
        await stop(loop, task)
        return consumer.log, producer.sent

    log, sent = asyncio.run(run())
    assert sent == [b"0@0", b"0@0"]
    assert log[-1] == "commit [(0, 1)]" and log.index("commit [(0, 1)]") > 2


def test_a_batch_held_across_a_rebalance_is_neither_decided_after_it_nor_committed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hotloop, "REVOKE_WAIT", 0.05)

    async def run() -> tuple[list[str], int]:
        consumer = Consumer([fetched(P0, 0)])
        producer = Producer(consumer.log)
        attempts = [0]

        async def held(batch: Sequence[Incoming]) -> list[Outgoing]:
            attempts[0] += 1
            raise StoreUnavailable("redis paused")

        loop = make_loop(consumer, producer, held)
        task = asyncio.create_task(loop._run())
        await until(lambda: attempts[0] >= 1)
        await loop.revoked([P0, P1])  # gives up waiting after REVOKE_WAIT
        loop.assigned([P0])
        tried = attempts[0]
        await asyncio.sleep(0.4)  # the runner's next attempt finds the epoch ended
        await stop(loop, task)
        return consumer.log, attempts[0] - tried

    log, later_attempts = asyncio.run(run())
    assert log == []  # nothing sent, nothing committed
    assert later_attempts == 0


def test_a_revocation_lets_the_batches_in_flight_commit_first() -> None:
    async def run() -> list[str]:
        consumer = Consumer([fetched(P0, 0)])
        producer = Producer(consumer.log, manual=True)
        loop = make_loop(consumer, producer, one_output_each(consumer.log))
        task = asyncio.create_task(loop._run())
        await until(lambda: producer.pending)
        revoking = asyncio.create_task(loop.revoked([P0, P1]))
        await asyncio.sleep(0.05)
        assert not revoking.done()  # it waits for the batch in flight
        producer.ack(b"0@0")
        await asyncio.wait_for(revoking, 1)
        consumer.log.append("revoked")
        await stop(loop, task)
        return consumer.log

    assert asyncio.run(run()) == ["decide 0@0", "send 0@0", "commit [(0, 1)]", "revoked"]


def test_the_key_partitioner_places_every_key_where_the_default_one_does() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    ours = hotloop.KeyPartitioner()
    for n in (1, 4, 7):
        partitions = list(range(n))
        for i in range(2000):
            key = f"D{i:06d}".encode()
            for _ in range(2):  # the second time from its memory
                assert ours(key, partitions, partitions) == DefaultPartitioner()(
                    key, partitions, partitions)


def test_the_request_loop_setting_names_the_variable_when_it_is_wrong() -> None:
    from gatekeeper.errors import ConfigError
    from gatekeeper.settings import Settings
    from gatekeeper.stream.app import control_group

    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"GATEKEEPER_REQUEST_LOOP": "kafka-streams"})
    assert str(caught.value) == ("GATEKEEPER_REQUEST_LOOP: expected aiokafka or faust, "
                                 "found 'kafka-streams'")
    hot = Settings.from_env({"GATEKEEPER_APP_ID": "gk"})
    old = Settings.from_env({"GATEKEEPER_APP_ID": "gk", "GATEKEEPER_REQUEST_LOOP": "faust"})
    assert (hot.request_loop, control_group(hot)) == ("aiokafka", "gk.control")
    assert (old.request_loop, control_group(old)) == ("faust", "gk")


def test_outputs_go_as_one_record_batch_per_topic_and_partition_in_their_order() -> None:
    async def run() -> tuple[Producer, list[Outgoing], Any]:
        producer = Producer([], capacity=3)
        batches: list[tuple[str, int, list[bytes]]] = []
        send_batch = producer.send_batch

        async def recorded(batch: Builder, topic: str, *, partition: int
                           ) -> asyncio.Future[None]:
            batches.append((topic, partition, list(batch.values)))
            return await send_batch(batch, topic, partition=partition)

        producer.send_batch = recorded  # type: ignore[method-assign]
        loop = make_loop(Consumer([]), producer, one_output_each([]))
        loop.topics = {"allowed": "out", "decisions": "record"}
        outputs = [Outgoing(kind, f"D{i % 5}".encode(), f"{kind}-{i}".encode())
                   for i in range(20) for kind in ("allowed", "decisions")]
        futures = await loop._send(outputs)
        assert len(futures) == len(batches)
        return producer, outputs, batches

    producer, outputs, batches = asyncio.run(run())
    assert sorted(producer.sent) == sorted(o.value for o in outputs)  # each once
    partitioner = hotloop.KeyPartitioner()
    for topic, partition, values in batches:
        assert len(values) <= 3
        mine = [o.value for o in outputs if (o.kind == "allowed") == (topic == "out")
                and partitioner(o.key, [0, 1], [0, 1]) == partition]
        assert values == [v for v in mine if v in values]  # output order within a partition


def test_outputs_the_producer_refused_are_delivered_again_before_the_commit() -> None:
    async def run() -> tuple[list[str], list[bytes]]:
        consumer = Consumer([fetched(P0, 0), fetched(P0, 1)])
        producer = Producer(consumer.log)
        refused = [True]
        send_batch = producer.send_batch

        async def full_once(batch: Builder, topic: str, *, partition: int
                            ) -> asyncio.Future[None]:
            if refused.pop() if refused else False:
                from aiokafka.errors import KafkaTimeoutError
                raise KafkaTimeoutError()  # the producer's buffer stayed full
            return await send_batch(batch, topic, partition=partition)

        producer.send_batch = full_once  # type: ignore[method-assign]
        loop = make_loop(consumer, producer, one_output_each(consumer.log))
        task = asyncio.create_task(loop._run())
        await until(lambda: len(consumer.commits) == 2)
        await stop(loop, task)
        return consumer.log, producer.sent

    log, sent = asyncio.run(run())
    assert sent == [b"0@0", b"0@1"]  # the refused one was sent again, then the next batch
    assert log.index("commit [(0, 1)]") < log.index("commit [(0, 2)]")
    assert log.index("send 0@0") < log.index("commit [(0, 1)]")


def test_a_batch_behind_one_that_was_never_delivered_commits_nothing() -> None:
    async def run() -> list[dict[TopicPartition, int]]:
        consumer = Consumer([fetched(P0, 0), fetched(P0, 1)])
        producer = Producer(consumer.log, manual=True)
        loop = make_loop(consumer, producer, one_output_each(consumer.log))
        task = asyncio.create_task(loop._run())
        await until(lambda: len(producer.pending) == 2)
        first = loop.in_flight[0]
        first.cancel()  # stopped before the first batch's acknowledgements came
        producer.ack(b"0@1")
        await asyncio.sleep(0.1)
        await stop(loop, task)
        return consumer.commits

    assert asyncio.run(run()) == []


def test_no_batch_commits_past_one_that_was_never_delivered() -> None:
    """Three batches; the first is stopped before its acknowledgements, the second and the
    third are acknowledged: the third must not commit offsets past the first one's gap."""
    async def run() -> list[dict[TopicPartition, int]]:
        consumer = Consumer([fetched(P0, 0), fetched(P0, 1), fetched(P0, 2)])
        producer = Producer(consumer.log, manual=True)
        loop = make_loop(consumer, producer, one_output_each(consumer.log))
        task = asyncio.create_task(loop._run())
        await until(lambda: len(producer.pending) == 2)
        loop.in_flight[0].cancel()  # stopped before the first batch's acknowledgements came
        producer.ack(b"0@1")
        await until(lambda: len(producer.pending) == 3)  # the third batch is sent
        producer.ack(b"0@2")
        await asyncio.sleep(0.1)
        await stop(loop, task)
        return consumer.commits

    assert asyncio.run(run()) == []


class SlowCommits(Consumer):
    """Its first commit returns only when the test releases it (a coordinator lingering)."""

    def __init__(self, batches: list[dict[TopicPartition, list[Record]]]):
        super().__init__(batches)
        self.release = asyncio.Event()

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not self.commits:
            self.log.append("commit started")
            await self.release.wait()
        await super().commit(offsets)


def test_a_slow_commit_holds_no_batch_and_the_next_commit_covers_those_delivered_meanwhile(
        ) -> None:
    async def run() -> tuple[list[str], list[dict[TopicPartition, int]]]:
        consumer = SlowCommits([fetched(P0, 0), fetched(P0, 1), fetched(P1, 5),
                                fetched(P0, 2)])
        producer = Producer(consumer.log)  # every batch acknowledged at once
        loop = make_loop(consumer, producer, one_output_each(consumer.log))
        task = asyncio.create_task(loop._run())
        # more batches than IN_FLIGHT go out while the first commit is still out
        await until(lambda: len(producer.sent) == 4)
        assert consumer.commits == []
        consumer.release.set()
        await until(lambda: len(consumer.commits) == 2)
        await stop(loop, task)
        return consumer.log, consumer.commits

    log, commits = asyncio.run(run())
    assert hotloop.IN_FLIGHT < 4
    assert commits == [{P0: 1}, {P0: 3, P1: 6}]  # the second: the three delivered meanwhile
    assert log.index("send 0@2") < log.index("commit [(0, 1)]")


def test_a_revocation_waits_for_the_commit_that_is_out() -> None:
    async def run() -> list[str]:
        consumer = SlowCommits([fetched(P0, 0)])
        loop = make_loop(consumer, Producer(consumer.log), one_output_each(consumer.log))
        task = asyncio.create_task(loop._run())
        await until(lambda: "commit started" in consumer.log)
        revoking = asyncio.create_task(loop.revoked([P0, P1]))
        await asyncio.sleep(0.05)
        assert not revoking.done()
        consumer.release.set()
        await asyncio.wait_for(revoking, 1)
        consumer.log.append("revoked")
        await stop(loop, task)
        return consumer.log

    assert asyncio.run(run())[-2:] == ["commit [(0, 1)]", "revoked"]


def test_commits_start_at_most_once_an_interval_and_cover_every_batch_delivered_by_then(
        ) -> None:
    async def run() -> list[dict[TopicPartition, int]]:
        consumer = Consumer([fetched(P0, 0), fetched(P0, 1), fetched(P1, 5)])
        producer = Producer(consumer.log, manual=True)
        loop = make_loop(consumer, producer, one_output_each(consumer.log), commit_every=0.5)
        task = asyncio.create_task(loop._run())
        await until(lambda: len(producer.pending) == 2)
        producer.ack(b"0@0")
        await until(lambda: len(consumer.commits) == 1)  # the first one at once
        await until(lambda: len(producer.pending) == 3)
        producer.ack(b"0@1")
        producer.ack(b"1@5")
        await asyncio.sleep(0.15)
        assert len(consumer.commits) == 1  # delivered, but the interval has not passed
        await until(lambda: len(consumer.commits) == 2)
        await stop(loop, task)
        return consumer.commits

    assert asyncio.run(run()) == [{P0: 1}, {P0: 2, P1: 6}]  # the second covers both


async def first_of_two_committed(commit_every: float
                                 ) -> tuple[Consumer, Producer, RequestLoop, asyncio.Task[None]]:
    """Two batches read; the first delivered and committed (the first commit starts at once),
    the second waiting for its acknowledgement."""
    consumer = Consumer([fetched(P0, 0), fetched(P0, 1)])
    producer = Producer(consumer.log, manual=True)
    loop = make_loop(consumer, producer, one_output_each(consumer.log), commit_every)
    task = asyncio.create_task(loop._run())
    await until(lambda: len(producer.pending) == 2)
    producer.ack(b"0@0")
    await until(lambda: len(consumer.commits) == 1)
    return consumer, producer, loop, task


def test_a_revocation_commits_what_is_delivered_at_once_whatever_the_interval() -> None:
    async def run() -> list[str]:
        consumer, producer, loop, task = await first_of_two_committed(commit_every=60)
        producer.ack(b"0@1")
        await asyncio.sleep(0.05)
        assert len(consumer.commits) == 1  # waiting for the interval (a minute)
        await asyncio.wait_for(loop.revoked([P0, P1]), 1)
        consumer.log.append("revoked")
        await stop(loop, task)
        return consumer.log

    assert asyncio.run(run())[-3:] == ["commit [(0, 1)]", "commit [(0, 2)]", "revoked"]


def test_a_drain_that_ends_first_leaves_an_overlapping_one_hurried() -> None:
    """A revocation and a stop may drain at once: the one that gives up first must not
    send the other's commit back to waiting for the interval."""
    async def run() -> tuple[list[dict[TopicPartition, int]], bool]:
        consumer, producer, loop, task = await first_of_two_committed(commit_every=60)
        short = asyncio.create_task(loop._drain(0.05))  # gives up: batch 1 is not acked
        long = asyncio.create_task(loop._drain(2.0))
        await asyncio.wait_for(short, 1)
        producer.ack(b"0@1")  # delivered after the first drain ended
        await asyncio.wait_for(long, 3)
        committed_in_time = len(consumer.commits) == 2
        await stop(loop, task)
        return consumer.commits, committed_in_time

    commits, committed_in_time = asyncio.run(run())
    assert committed_in_time  # not after the minute's interval
    assert commits[:2] == [{P0: 1}, {P0: 2}]


def test_the_commit_interval_setting_is_read_and_checked() -> None:
    from gatekeeper.errors import ConfigError
    from gatekeeper.settings import Settings

    assert Settings.from_env({}).commit_interval == 0.25
    assert Settings.from_env({"GATEKEEPER_COMMIT_INTERVAL": "1.5"}).commit_interval == 1.5
    with pytest.raises(ConfigError, match="GATEKEEPER_COMMIT_INTERVAL"):
        Settings.from_env({"GATEKEEPER_COMMIT_INTERVAL": "-1"})


def test_a_batchs_metrics_count_every_output_under_its_labels() -> None:
    from prometheus_client import REGISTRY

    from gatekeeper.stream.app import _finished

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    def blocked(*rules: str) -> Any:
        return {"reasons": [{"rule": r} for r in rules]}

    before = (value("gatekeeper_decisions_total", decision="allowed", rule="", channel=""),
              value("gatekeeper_decisions_total", decision="blocked", rule="t/a", channel="sms"),
              value("gatekeeper_decisions_total", decision="blocked", rule="t/b", channel="sms"),
              value("gatekeeper_decisions_total", decision="blocked", rule="t/a", channel="call"),
              value("gatekeeper_invalid_total", source="requests"))
    outputs = [Outgoing("allowed", b"d", b"1"), Outgoing("allowed", b"d", b"2"),
               Outgoing("review", b"d", b"3", (), blocked("t/a", "t/b"), "sms"),
               Outgoing("review", b"d", b"4", (), blocked("t/a"), "sms"),
               Outgoing("review", b"d", b"5", (), blocked("t/a"), "call"),
               Outgoing("invalid", b"d", b"6"), Outgoing("decisions", b"d", b"7")]
    _finished([Incoming(b"d", b"x", "req", 0, i) for i in range(6)], outputs, 0.01)
    after = (value("gatekeeper_decisions_total", decision="allowed", rule="", channel=""),
             value("gatekeeper_decisions_total", decision="blocked", rule="t/a", channel="sms"),
             value("gatekeeper_decisions_total", decision="blocked", rule="t/b", channel="sms"),
             value("gatekeeper_decisions_total", decision="blocked", rule="t/a", channel="call"),
             value("gatekeeper_invalid_total", source="requests"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 2, 1, 1, 1]


def test_stage_times_are_off_unless_asked_for_and_then_time_every_stage_of_a_batch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from prometheus_client import REGISTRY

    from gatekeeper.stream import stages

    def count(stage: str) -> float:
        return REGISTRY.get_sample_value("gatekeeper_batch_stage_seconds_count",
                                         {"stage": stage}) or 0.0

    async def run(on: bool) -> RequestLoop:
        monkeypatch.setenv(stages.ENV, "1" if on else "0")
        consumer = Consumer([fetched(P0, 0, 1), fetched(P1, 5)])
        producer = Producer(consumer.log)
        decide = one_output_each(consumer.log)

        async def timed_decide(batch: Sequence[Incoming]) -> list[Outgoing]:
            with stages.stage("redis"):  # as the worker's store calls are, in a batch
                return await decide(batch)

        loop = make_loop(consumer, producer, timed_decide)
        task = asyncio.create_task(loop._run())
        await until(lambda: len(consumer.commits) == 2)
        await stop(loop, task)
        return loop

    names = ("deciding", "redis", "wait slot", "send", "acks", "in order", "total", "commit")
    before = {name: count(name) for name in names}
    assert not asyncio.run(run(on=False)).timed
    assert {name: count(name) for name in names} == before  # off: nothing observed
    assert asyncio.run(run(on=True)).timed
    added = {name: count(name) - before[name] for name in names}
    assert added == {"deciding": 2, "redis": 2, "wait slot": 2, "send": 2, "acks": 2,
                     "in order": 1, "total": 2, "commit": 2}  # (the first has none before it)


@pytest.mark.parametrize("read_ahead", [0, 1])
def test_with_read_ahead_the_next_batch_is_read_while_one_is_decided_and_decided_after_it(
        read_ahead: int) -> None:
    async def run() -> list[str]:
        consumer = Consumer([fetched(P0, 0), fetched(P1, 5), fetched(P0, 1)])
        producer = Producer(consumer.log)
        release = asyncio.Event()
        decide = one_output_each(consumer.log)

        async def held_first(batch: Sequence[Incoming]) -> list[Outgoing]:
            outputs = await decide(batch)
            if batch[0].offset == 0:
                await release.wait()
            return outputs

        loop = make_loop(consumer, producer, held_first)
        loop.on_read = lambda records: consumer.log.append("read")
        loop.read_ahead = read_ahead
        task = asyncio.create_task(loop._run())
        await until(lambda: "decide 0@0" in consumer.log)
        await asyncio.sleep(0.05)
        if read_ahead:
            assert consumer.log == ["read", "decide 0@0", "read"]  # one read ahead, no more
        else:
            assert consumer.log == ["read", "decide 0@0"]  # read once the first is sent
        release.set()
        await until(lambda: len(producer.sent) == 3)
        await until(lambda: {tp: o for c in consumer.commits for tp, o in c.items()}
                    == {P0: 2, P1: 6})
        await stop(loop, task)
        return consumer.log

    log = asyncio.run(run())
    assert log.count("read") == 3  # in order, each decided after the one before was sent:
    assert [e for e in log if e.startswith(("decide", "send"))] == [
        "decide 0@0", "send 0@0", "decide 1@5", "send 1@5", "decide 0@1", "send 0@1"]


def test_each_batch_takes_the_end_offsets_asked_when_it_was_read_and_never_older_ones(
        ) -> None:
    from gatekeeper.stream.catchup import EventsCatchUp

    def batch(offset: int) -> list[Incoming]:
        return [Incoming(b"d", b"{}", "req", 0, offset)]

    async def run() -> list[int]:
        catchup = EventsCatchUp("kafka://127.0.0.1:1", "events", "g", apply=None)  # type: ignore[arg-type]
        asks: list[int] = []

        async def end_offsets() -> dict[TopicPartition, int]:
            asks.append(len(asks) + 1)
            if len(asks) == 5:
                raise ConnectionError("broker gone")
            return {P0: len(asks)}

        catchup.end_offsets = end_offsets  # type: ignore[method-assign]
        catchup.ask(batch(1))  # answer 1
        catchup.ask(batch(2))  # answer 2
        catchup.ask(batch(3))  # answer 3
        taken = [(await catchup.asked(batch(2)))[P0],  # its own (the first batch's dropped)
                 (await catchup.asked(batch(1)))[P0],  # dropped: asked now (4)
                 (await catchup.asked(batch(3)))[P0]]  # its own
        catchup.ask(batch(4))  # answer 5 fails
        await asyncio.sleep(0.01)
        taken.append((await catchup.asked(batch(4)))[P0])  # asked again (6)
        taken.append((await catchup.asked(batch(4)))[P0])  # taken once: a retry asks (7)
        return taken

    assert asyncio.run(run()) == [2, 4, 3, 6, 7]


def test_a_refused_read_is_said_in_words_held_and_the_batch_decided_once_allowed(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An ACL revoked while the worker runs: each read fails with TopicAuthorizationFailed;
    the loop reports a refusal naming principal and topic (not a bug with a traceback),
    decides nothing meanwhile, and goes on by itself once Kafka allows the read again."""
    from aiokafka.errors import TopicAuthorizationFailedError

    monkeypatch.setenv("GATEKEEPER_KAFKA_USERNAME", "gatekeeper")
    monkeypatch.setenv("GATEKEEPER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("GATEKEEPER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("GATEKEEPER_KAFKA_PASSWORD", "secret")
    real_sleep = asyncio.sleep
    monkeypatch.setattr(hotloop.asyncio, "sleep", lambda seconds: real_sleep(0))
    refused: list[tuple[str, str]] = []
    unexpected: list[BaseException] = []

    class Refusing(Consumer):
        refusals = 2

        async def getmany(self, timeout_ms: int, max_records: int
                          ) -> dict[Any, list[Record]]:
            if self.refusals:
                self.refusals -= 1
                raise TopicAuthorizationFailedError("req")
            return await super().getmany(timeout_ms, max_records)

    async def run() -> list[str]:
        consumer = Refusing([fetched(P0, 0)])
        loop = make_loop(consumer, Producer(consumer.log), one_output_each(consumer.log))
        loop.runner.failures = Failures(refused=lambda what, text: refused.append((what, text)),
                                        unexpected=lambda what, exc: unexpected.append(exc))
        task = asyncio.create_task(loop._run())
        await until(lambda: consumer.commits)
        await stop(loop, task)
        return consumer.log

    with caplog.at_level("WARNING", logger="gatekeeper.worker"):
        log = asyncio.run(run())
    assert unexpected == []
    assert [what for what, _ in refused] == ["reading requests"] * 2
    assert refused[0][1].startswith("Kafka refused User:gatekeeper (SASL_SSL) access to topic req "
                                    "(TopicAuthorizationFailed")
    assert log == ["decide 0@0", "send 0@0", "commit [(0, 1)]"]
    assert "reading requests resumed" in caplog.text


def test_a_refusal_is_logged_once_a_minute_without_a_traceback(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper.stream import refusal_logs

    now = [1000.0]
    monkeypatch.setattr(refusal_logs.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(refusal_logs, "_said", {})
    with caplog.at_level("WARNING", logger="gatekeeper.worker"):
        for step in (0, 1, 30, 61):
            now[0] = 1000.0 + step
            Failures().refused("reading requests", "Kafka refused X access to topic T")
    lines = [r for r in caplog.records if "refused X" in r.getMessage()]
    assert len(lines) == 2 and all(r.exc_info is None for r in lines)
    assert lines[0].getMessage().startswith("reading requests held: Kafka refused X")
