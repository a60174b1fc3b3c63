"""``report``, ``backtest`` and ``history generate`` over Kafka: the shells around the pure
figures and the replay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from gatekeeper.analytics.backtest import Range
from gatekeeper.analytics.figures import Report
from gatekeeper.analytics.parallel import Replayer, Spec, replay_with
from gatekeeper.analytics.parallel import figures as parallel_figures
from gatekeeper.analytics.progress import Progress
from gatekeeper.analytics.recorder import Message, Recorder, history_lines
from gatekeeper.analytics.sources import (
    IndexSource,
    RangeError,
    RecordIndex,
    RecordSource,
    TimeRange,
)
from gatekeeper.analytics.synthetic import SyntheticHistory
from gatekeeper.brokers import bootstrap
from gatekeeper.counters.keys import Hasher
from gatekeeper.gate import Gate, Ttls
from gatekeeper.kafka_security import kafka_options
from gatekeeper.policy import load_policy
from gatekeeper.settings import Settings
from gatekeeper.simulate import SIMULATION_KEY, simulation_store
from gatekeeper.timebounds import DEFAULT_BOUNDS, TimeBounds
from gatekeeper.topics import ensure_topics, partitions_of

OUTCOME_GRACE = timedelta(days=3)  # outcomes of the range's last contacts come this late
REPLAY_ENTRIES = 100_000  # entries held at once (a few KB each: request, decision)


async def run_report(settings: Settings, span: TimeRange) -> dict[str, Any]:
    source = RecordSource(
        settings, since={"events": None, "decisions": span.start, "outcomes": span.start},
        until={"events": span.end, "decisions": span.end, "outcomes": span.end + OUTCOME_GRACE})
    await source.open()
    bar = Progress("decisions read", await source.count())
    report = Report(span.start, span.end)
    bounds = TimeBounds.from_settings(settings)
    read = 0
    async for items in source.groups():
        read += report.add_items(items, bounds)
        bar.update(read)
    bar.finish()
    figures = report.figures()
    figures["source"] = {"broker": settings.broker, "topics": source.topics,
                         "skipped": report.skipped}
    return figures


def report_from_index(index: RecordIndex, span: TimeRange, *, limit: int,
                      bounds: TimeBounds = DEFAULT_BOUNDS) -> dict[str, Any]:
    """``gatekeeper report``'s figures over the console's decision index (blocking: SQLite),
    from at most ``limit`` decisions, the range's latest."""
    source = IndexSource(index, span, limit=limit, grace=OUTCOME_GRACE)
    items = source.items()
    report = Report(span.start, span.end)
    read = report.add_items(items, bounds)
    figures = report.figures()
    figures["source"] = {"index": True, "decisions_in_range": source.total,
                         "decisions_read": read, "skipped": report.skipped}
    return figures


async def run_backtest(settings: Settings, policies: list[str], span: TimeRange,
                       redis_url: str | None, jobs: int = 1) -> dict[str, Any]:
    """Replay the range with the candidate ``policies``, in ``jobs`` processes (each with
    its own private redis-server) when more than one."""
    policy = load_policy(policies)  # a bad pack fails before anything is read
    spec = Spec(policies, Range(span.start, span.end), SIMULATION_KEY,
                Ttls(decision_seconds=settings.decision_ttl_days * 86400),
                TimeBounds.from_settings(settings), redis_url)
    warmup = spec.span.warmup_of(policy, spec.ttls)
    source = RecordSource(
        settings, since={"events": None, "decisions": warmup, "outcomes": warmup},
        until={"events": span.end, "decisions": span.end, "outcomes": span.end})
    await source.open()
    bar = Progress("decisions replayed (warm-up included)", await source.count())
    started = time.monotonic()

    async def body(replayer: Replayer) -> None:
        # partition groups hold disjoint debtors: replayed together, their waves are as
        # wide as the whole book
        async for items in source.groups():
            await replayer.add(items)
            if replayer.pending >= REPLAY_ENTRIES:
                await replayer.flush()

    result = await replay_with(spec, jobs, body, bar.update)
    seconds = time.monotonic() - started
    bar.finish()
    figures = parallel_figures(result, spec, warmup)
    figures["replay"].update(seconds=round(seconds, 2), skipped=result.skipped, jobs=jobs,
                             requests_per_second=round(result.stats["decided"]
                                                       / max(seconds, 1e-3)))
    figures["source"] = {"broker": settings.broker, "topics": source.topics}
    return figures


async def record_synthetic(history: SyntheticHistory, policies: list[str],
                           progress: Callable[[int], None] | None = None) -> list[Message]:
    """Decide a synthetic history through the gate on a private redis-server."""
    policy = load_policy(policies)
    async with simulation_store(None) as store:
        await store.load_scripts()
        gate = Gate(policy, store, Hasher(SIMULATION_KEY))
        return await Recorder(history, gate, progress=progress).run()


async def generate(settings: Settings, history: SyntheticHistory, policies: list[str],
                   out_file: Path | None) -> dict[str, int]:
    """Record a synthetic history, then write it to ``out_file`` (a simulate history) or
    produce it onto the topics (which must hold nothing yet)."""
    if out_file is None:
        await _refuse_nonempty(settings)
    lines = history.lines()
    bar = Progress("requests decided", sum(1 for line in lines if line.kind == "request"))
    messages = await record_synthetic(history, policies, bar.update)
    bar.finish()
    counts = {kind: sum(1 for m in messages if m.kind == kind)
              for kind in ("events", "decisions", "outcomes")}
    if out_file is not None:
        with out_file.open("wb") as out:
            out.writelines(history_lines(messages))
        return counts
    await ensure_topics(settings)  # the record's retention: a month-old message is kept
    await _produce(settings, messages)
    return counts


async def _refuse_nonempty(settings: Settings) -> None:
    from aiokafka import TopicPartition

    from gatekeeper.record_reader import record_consumer

    names = [settings.topics[k] for k in ("events", "decisions", "outcomes")]
    found = await partitions_of(settings.broker, names)
    if not any(found.values()):
        return  # (a consumer stopped right after it started may raise CancelledError)
    consumer = record_consumer(bootstrap(settings.broker))
    await consumer.start()
    try:
        for name, numbers in found.items():
            tps = [TopicPartition(name, n) for n in numbers]
            ends = await consumer.end_offsets(tps)
            if any(ends.values()):
                raise RangeError(f"{name} already holds messages: a synthetic history is "
                                 "produced only onto empty topics (give another "
                                 "--topic-prefix)")
    finally:
        await consumer.stop()


async def _produce(settings: Settings, messages: list[Message]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(settings.broker), linger_ms=20,
                                max_batch_size=512 * 1024, acks="all", **kafka_options())
    await producer.start()
    try:
        bar = Progress("messages produced", len(messages))
        pending = []
        for i, message in enumerate(messages, 1):
            headers = [("gk-record", message.record.encode())] if message.record else []
            pending.append(await producer.send(settings.topics[message.kind], message.value,
                                               key=message.key, headers=headers,
                                               timestamp_ms=message.timestamp))
            if len(pending) >= 5000:
                await _acknowledged(pending)
                pending = []
                bar.update(i)
        await _acknowledged(pending)
        bar.update(len(messages))
        bar.finish()
    finally:
        await producer.stop()


async def _acknowledged(futures: list[Any]) -> None:
    """Wait for every acknowledgement; raise the first failure (after all have ended)."""
    for result in await asyncio.gather(*futures, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result


def write_outputs(figures: dict[str, Any], html: str, out: Path, json_out: Path | None
                  ) -> Path:
    """The page to ``out``, the figures to ``json_out`` (default: ``out`` with .json)."""
    json_path = json_out or out.with_suffix(".json")
    out.write_text(html, encoding="utf-8")
    json_path.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return json_path
