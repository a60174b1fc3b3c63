"""A real faust consumer group against the local broker: join, consume, produce, commit.

One agent reads topic A and forwards every (key, value) to topic B. aiokafka produces 100
messages to A; the test asserts that B receives the same 100 values in order, that the group
joined within a few seconds, and that the group's committed offset on A reaches 100.

The faust app runs in-process, on the test's event loop, started with `await app.start()`
(no faust Worker: Worker.execute_from_commandline blocks, installs signal handlers and sets up
logging). faust's aiokafka driver runs the KafkaConsumer in its own thread with its own loop
(AIOKafkaConsumerThread); that works fine next to pytest-asyncio's function-scoped loop.
Parametrized over processing_guarantee; see the exactly_once note below.

Findings (Kafka 4.1.1 from scripts/stack, faust-streaming 0.15.3, aiokafka 0.14.0):

* Time to join is ~1.1 s after app.start(), and 1.0 s of it is faust itself:
  TableManager.on_start() does a fixed `await self.sleep(1.0)` before the Conductor may
  subscribe. FindCoordinator + JoinGroup + SyncGroup take ~15 ms against this broker. A
  faust worker therefore cannot be assigned partitions sooner than ~1 s after start.
* Broker side, group.initial.rebalance.delay.ms (3 s default, 0 in scripts/stack) would add
  up to 3 s to the first join of an empty group. group.min.session.timeout.ms (6 s default,
  1 s in scripts/stack) must be <= broker_session_timeout or JoinGroup fails with
  INVALID_SESSION_TIMEOUT.
* broker_session_timeout=10 / broker_heartbeat_interval=1 / broker_rebalance_timeout=10
  (defaults 60 s / 3 s / 60 s): a clean stop sends LeaveGroup, so nothing waits for them here,
  but a member that dies without leaving blocks the next rebalance for a session timeout.
* broker_commit_interval=0.5: faust commits acked offsets on a timer (default 2.8 s) or every
  broker_commit_every=10000 messages. Measured: committed offset reaches 100 ~0.4-0.6 s after
  the first message was produced. The last message's offset is committed too (no off-by-one).
* topic_partitions=1: partitions of the topics faust declares itself (the assignor's leader
  topic `<app_id>-__assignor-__leader`, changelogs, repartition topics); default 8. The test
  creates A and B itself. The leader topic is created even with no tables.
* stream_wait_empty: no measurable difference here (app.stop() takes ~10 ms either way, the
  agent is idle when stopped). consumer_auto_offset_reset="earliest" so that a new group reads
  what was produced before it joined.
* datadir=tmp_path: faust creates `<app_id>-data/` in the *current directory* by default
  (App.on_first_start -> _create_directories), even with store="memory://".
* exactly_once: App.in_transaction is `in_worker and processing_guarantee == exactly_once`,
  and only faust.Worker sets app.in_worker. An app started with app.start() silently runs
  at-least-once, hence `app.in_worker = True` below. With it, faust opens transactional
  producers (one per partition number, id `<app_id>-<group>-<partition>`) and commits offsets
  with AddOffsetsToTxn/TxnOffsetCommit/EndTxn (the v0 transaction APIs work on Kafka 4.1.1).
  But the records sent to B are NOT in the transaction: TransactionManager.send derives the
  transactional id from the consumer's metadata for the *destination* topic, which the
  consumer never fetched (key_partition -> None), so faust falls back to the plain producer.
  Treat faust's exactly_once as offsets-only.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import faust
import kafka_helpers
import pytest

N = 100
JOIN_BUDGET_S = 10.0  # generous; measured 1.1-1.3 s (1.0 s is faust's own sleep, see above)


def make_app(
    app_id: str, broker_url: str, datadir: Path, guarantee: str = "at_least_once"
) -> faust.App:
    return faust.App(
        app_id,
        broker=broker_url,
        store="memory://",
        web_enabled=False,
        datadir=str(datadir),
        autodiscover=False,
        broker_session_timeout=10,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=10,
        broker_commit_interval=0.5,
        topic_partitions=1,
        stream_wait_empty=False,
        consumer_auto_offset_reset="earliest",
        processing_guarantee=guarantee,
    )


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
async def test_faust_roundtrip(
    guarantee: str,
    app_id: str,
    broker_url: str,
    bootstrap: str,
    create_topics,
    consume,
    tmp_path: Path,
    record_property,
) -> None:
    topic_a, topic_b = await create_topics("a", "b")

    app = make_app(app_id, broker_url, tmp_path / "faust", guarantee)
    src = app.topic(topic_a, key_serializer="raw", value_serializer="raw")
    dst = app.topic(topic_b, key_serializer="raw", value_serializer="raw")

    assigned = asyncio.Event()
    forwarded = 0

    @app.on_partitions_assigned.connect
    async def _on_assigned(sender: faust.App, assigned_tps: set, **kwargs: object) -> None:
        if any(tp.topic == topic_a for tp in assigned_tps):
            assigned.set()

    @app.agent(src)
    async def forward(stream: faust.StreamT) -> None:
        nonlocal forwarded
        async for key, value in stream.items():
            await dst.send(key=key, value=value)
            forwarded += 1

    # faust only uses transactions when app.in_worker is set (App.in_transaction); a Worker
    # sets it in on_start. Without this line exactly_once silently runs as at_least_once.
    app.in_worker = True

    t0 = time.monotonic()
    await app.start()
    try:
        await asyncio.wait_for(assigned.wait(), JOIN_BUDGET_S)
        join_s = time.monotonic() - t0
        record_property("faust_join_seconds", round(join_s, 3))
        print(f"\nfaust group {app_id} joined and got {topic_a} after {join_s:.2f}s")

        sent = [(f"k{i:03d}".encode(), f"value-{i:03d}".encode()) for i in range(N)]
        t1 = time.monotonic()
        await kafka_helpers.produce(bootstrap, topic_a, sent)

        records = await consume(topic_b, N, timeout=30)
        roundtrip_s = time.monotonic() - t1
        print(f"{N} messages A -> faust -> B in {roundtrip_s:.2f}s")
        assert len(records) == N, f"got {len(records)} of {N} on {topic_b}"
        assert [r.value for r in records] == [v for _, v in sent]
        assert [r.key for r in records] == [k for k, _ in sent]

        committed = await kafka_helpers.wait_committed(bootstrap, app_id, topic_a, N, timeout=15)
        commit_s = time.monotonic() - t1
        print(f"committed offsets {committed} after {commit_s:.2f}s")
        assert sum(committed.values()) == N, committed
        assert forwarded == N
    finally:
        t2 = time.monotonic()
        await app.stop()
        print(f"app.stop() took {time.monotonic() - t2:.2f}s")

    # A clean stop sent LeaveGroup: the offsets stay committed.
    assert sum((await kafka_helpers.committed_offsets(bootstrap, app_id, topic_a)).values()) == N
