"""The faust worker: requests -> allowed / review / invalid (+ the record on
contact.decisions); events and outcomes -> state.

Agents run with ``concurrency=1`` and take batches. A batch's offsets are acknowledged
only after its outputs are acknowledged by Kafka (``take_events`` acks when the loop body
returns), so a crash replays the batch and the recorded decisions are emitted again
unchanged. While Redis or Kafka fails the loop body waits and retries: nothing is read
further, nothing is forwarded (fail closed), and it resumes by itself. When Redis lost data
(``StoreLost``), the loop holds until the working copy is rebuilt from Kafka
(``gatekeeper.memory``), then decides the batch again. Before each batch of requests, every
debtor event acknowledged by the broker is applied (``stream/catchup.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import faust

from gatekeeper import metrics
from gatekeeper.counters.store import Store
from gatekeeper.deferral.schedule import Schedule
from gatekeeper.deferral.service import Releaser, deferral_schedule
from gatekeeper.gate import Gate
from gatekeeper.kafka_security import faust_options
from gatekeeper.memory import Keeper
from gatekeeper.settings import Settings
from gatekeeper.stream import faust_refusals, stages
from gatekeeper.stream.catchup import EventsCatchUp
from gatekeeper.stream.hotloop import RequestLoop
from gatekeeper.stream.process import (
    Rejected,
    process_events,
    process_outcomes,
    process_requests,
)
from gatekeeper.stream.routing import Incoming, Outgoing
from gatekeeper.stream.runner import Runner
from gatekeeper.timebounds import TimeBounds
from gatekeeper.wiring import build_core, require_keys

log = logging.getLogger("gatekeeper.worker")


def _raw_topic(app: faust.App, name: str) -> Any:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                     value_serializer="raw", allow_empty=True)


def control_group(settings: Settings) -> str:
    """The consumer group of the faust agents: ``GATEKEEPER_APP_ID`` itself when they read
    the requests too (``GATEKEEPER_REQUEST_LOOP=faust``); otherwise the hot loop has that
    group and the control agents (events, outcomes) have ``<app id>.control``."""
    return settings.app_id if settings.request_loop == "faust" else f"{settings.app_id}.control"


def faust_app(settings: Settings, group: str | None = None) -> tuple[faust.App, dict[str, Any]]:
    """The faust app and its raw topics, as the worker (and the benchmark's passthrough,
    which must match it) use them; ``group`` is its consumer group (the app id)."""
    group = group or settings.app_id
    faust_refusals.install()
    app = faust.App(
        group,
        broker=settings.broker,
        store="memory://",
        datadir=str(Path(tempfile.gettempdir()) / f"gatekeeper-{group}"),
        autodiscover=False,
        web_enabled=False,
        topic_partitions=1,
        topic_replication_factor=1,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        broker_commit_interval=0.5,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=True,
        producer_linger_ms=1,
        producer_acks=-1,
        stream_buffer_maxsize=max(4096, settings.batch_size * 4),
        **faust_options(),  # GATEKEEPER_KAFKA_* (gatekeeper/kafka_security.py)
    )
    topics = {name: _raw_topic(app, topic) for name, topic in settings.topics.items()}
    return app, topics


def create_app(settings: Settings, *, signing_required: bool = True) -> faust.App:
    if signing_required:
        require_keys(settings, "the worker", signing=True)
    core = build_core(settings)
    policy, store, gate, keeper = core.policy, core.store, core.gate, core.keeper
    app, topics = faust_app(settings, control_group(settings))
    signing_key = settings.signing_keys[0] if settings.signing_keys else None
    bounds = TimeBounds.from_settings(settings)
    catchup = EventsCatchUp(settings.broker, settings.topics["events"],
                            control_group(settings), partial(_apply_events, gate, bounds=bounds))
    app.gatekeeper_gate = gate  # type: ignore[attr-defined]
    if stages.enabled():  # a debug aid: each batch's store calls, timed (stream/stages.py)
        store.run = stages.timed("redis", store.run)  # type: ignore[method-assign]
    app.gatekeeper_keeper = keeper  # type: ignore[attr-defined]

    async def produce(outputs: Sequence[Outgoing]) -> None:
        futures = [await topics[o.kind].send(key=o.key, value=o.value,
                                             headers=list(o.headers), force=True)
                   for o in outputs]
        await asyncio.gather(*futures)

    runner = Runner(produce, keeper)
    rejected = runner.failures.rejected

    def incoming(events: Sequence[Any]) -> list[Incoming]:
        return [Incoming(e.message.key, e.message.value, e.message.topic,
                         e.message.partition, e.message.offset) for e in events]

    schedule = deferral_schedule(settings, store)  # (released by the hot loop's worker only:
    parks = schedule if settings.request_loop == "aiokafka" else None  # the faust loop reviews)
    decide = partial(_decide_now, gate, catchup, signing_key=signing_key, bounds=bounds,
                     rejected=rejected, deferral=parks)
    if settings.request_loop == "aiokafka":
        loop = RequestLoop(
            broker=settings.broker, group=settings.app_id, topic=settings.topics["requests"],
            topics=settings.topics, decide=decide, keeper=keeper, failures=runner.failures,
            batch_size=settings.batch_size, within=settings.batch_within, finished=_finished,
            on_read=catchup.ask, read_ahead=settings.read_ahead,
            commit_every=settings.commit_interval, beacon=app.beacon)
        app.service(loop)  # type: ignore[arg-type] # an instance is started as is
        releaser = Releaser(gate, schedule, loop.runner, loop.partitions,
                            signing_key=signing_key, rate=settings.defer_release_rate,
                            batch=settings.batch_size,
                            before_decide=lambda: catchup.catch_up(datetime.now(UTC)))
        app.task(releaser.run)
    else:  # the faust agent, for comparison
        @app.agent(topics["requests"], concurrency=1)
        async def requests(stream: Any) -> None:
            async for events in stream.take_events(settings.batch_size,
                                                   within=settings.batch_within):
                started = time.perf_counter()
                batch = incoming(events)
                outputs = await runner.until_done(partial(decide, batch), "requests")
                await runner.deliver(outputs)
                _finished(batch, outputs, time.perf_counter() - started)

    def control_agent(kind: str,
                      step: Callable[[Gate, Sequence[Incoming]], Awaitable[list[Outgoing]]]
                      ) -> None:
        """An agent for a control topic (events, outcomes): apply, dead-letter the rest."""
        async def agent(stream: Any) -> None:
            async for events in stream.take_events(settings.batch_size,
                                                   within=settings.batch_within):
                batch = incoming(events)
                invalid = await runner.until_done(partial(step, gate, batch), kind)
                await runner.deliver(invalid)
                metrics.INVALID.labels(kind).inc(len(invalid))

        app.agent(topics[kind], name=f"gatekeeper.{kind}", concurrency=1)(agent)

    control_agent("events", partial(_control_now, process_events, bounds=bounds,
                                    rejected=rejected))
    control_agent("outcomes", partial(_control_now, process_outcomes, bounds=bounds,
                                      rejected=rejected))

    @app.task  # type: ignore[untyped-decorator]
    async def load_scripts() -> None:
        await runner.until_done(_load(store, keeper), "startup")
        log.info("gatekeeper ready: policy %s, topics %s", policy.version,
                 ", ".join(settings.topics.values()))

    return app


async def _control_now(step: Callable[..., Awaitable[list[Outgoing]]], gate: Gate,
                       batch: Sequence[Incoming], bounds: TimeBounds, rejected: Rejected
                       ) -> list[Outgoing]:
    """Apply events or outcomes at the wall-clock time of this attempt."""
    return await step(gate, batch, datetime.now(UTC), bounds, rejected)


async def _decide_now(gate: Gate, catchup: EventsCatchUp, batch: Sequence[Incoming], *,
                      signing_key: bytes | None, bounds: TimeBounds, rejected: Rejected,
                      deferral: Schedule | None = None) -> list[Outgoing]:
    """Decide a batch at the wall-clock time of this attempt (a retry takes a new time),
    after applying every event the broker acknowledged before it (the events topic's end
    offsets, asked for when the batch was read or else now, are awaited once the batch is
    parsed and checked)."""
    ends = catchup.asked(batch)

    async def catch_up() -> int:
        with stages.stage("catch-up"):
            return await catchup.catch_up(datetime.now(UTC), ends)

    try:
        return await process_requests(
            gate, batch, datetime.now(UTC), signing_key, bounds, rejected,
            before_decide=catch_up, deferral=deferral)
    finally:
        if not ends.done():
            ends.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await ends


async def _apply_events(gate: Gate, batch: Sequence[Incoming], now: datetime, *,
                        bounds: TimeBounds) -> list[Outgoing]:
    return await process_events(gate, batch, now, bounds)


def _load(store: Store, keeper: Keeper) -> Callable[[], Awaitable[list[Outgoing]]]:
    async def step() -> list[Outgoing]:
        await store.load_scripts()
        await keeper.ensure()
        return []
    return step


def _finished(batch: Sequence[Incoming], outputs: Sequence[Outgoing], seconds: float) -> None:
    """A batch's outputs were acknowledged (``seconds`` after it was read): its metrics,
    counted per label set first (a labelled child is looked up once per batch, not once
    per output)."""
    metrics.BATCH.observe(len(batch))
    metrics.LATENCY.observe(seconds)
    invalid = parked = 0
    decisions: Counter[tuple[str, str, str]] = Counter()
    for output in outputs:
        if output.kind == "invalid":
            invalid += 1
        elif output.kind == "deferred" and output.decision is not None:
            parked += 1
        elif output.kind == "allowed":
            decisions["allowed", "", ""] += 1
        elif output.kind == "review" and output.decision is not None:
            for reason in output.decision["reasons"]:
                decisions["blocked", reason["rule"], output.channel] += 1
    if invalid:
        metrics.INVALID.labels("requests").inc(invalid)
    if parked:
        metrics.DEFER_PARKED.inc(parked)
    for labels, count in decisions.items():
        metrics.DECISIONS.labels(*labels).inc(count)
