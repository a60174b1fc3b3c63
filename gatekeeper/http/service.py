"""What ``gatekeeper serve`` does, without HTTP: checks, dry runs, lookups, events, outcomes,
readiness. The routes (``app.py``) only translate.

A check is decided by the same ``Gate.decide_recorded`` as a stream request, in batches
(``batcher.py``): before each batch every debtor event Kafka acknowledged is applied
(``stream/catchup.py``), the batch goes to Redis in one pipeline, and each decision's audit
entry is queued (``audit.py``) before its check is answered. Fail closed: while the store is
not trusted (lost, being rebuilt, not yet verified) or Redis does not answer, checks raise
``Unavailable`` (503) and nothing is decided; a background task rebuilds or waits
(``Keeper.ensure``), it is never done on a check's time.

Kafka away: checks go on deciding, from the debtor states applied so far (the catch-up runs
before every batch and every half second besides, so what it can miss is an event
acknowledged in the instant before Kafka stopped answering, or in the second or so before
the follower finds it answering again), and their audit entries are held until Kafka is
back, up to the buffer's capacity; then checks get 503.

Kafka refusing to let this server read the events (an ACL taken away) is not Kafka away:
the broker goes on acknowledging events (an opt-out from the CRM) that this server cannot
read, so nothing is decided: checks get 503, which names the principal and the topic, until
the read is allowed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from gatekeeper.access_errors import explain
from gatekeeper.counters.keys import counters_key, state_key
from gatekeeper.debtor_view import describe_debtor
from gatekeeper.errors import GatekeeperError, InvalidInput, StoreLost, StoreUnavailable
from gatekeeper.http import metrics
from gatekeeper.http.audit import AuditSink, Entry, KafkaUnavailable, Reservation
from gatekeeper.http.batcher import Batcher
from gatekeeper.http.lookup import DecisionLookup
from gatekeeper.http.settings import HttpSettings
from gatekeeper.http.stages import BatchTimes, Stages
from gatekeeper.memory import Progress
from gatekeeper.model import ContactRequest, Decision
from gatekeeper.preview import preview
from gatekeeper.settings import Settings
from gatekeeper.stored import rule_index
from gatekeeper.stream import refusal_logs, routing
from gatekeeper.stream.catchup import EventsCatchUp
from gatekeeper.stream.process import process_events
from gatekeeper.stream.routing import Incoming, Outgoing
from gatekeeper.validate import parse_event, parse_outcome
from gatekeeper.wiring import Core, build_core

log = logging.getLogger("gatekeeper.http")
T = TypeVar("T")
HTTP = Incoming(None, None, "http", -1, -1)  # keys come from the decision's debtor_id
CATCHUP_TIMEOUT = 1.0  # a catch-up that takes longer: Kafka is away, decide without it
FIRST_CATCHUP_TIMEOUT = 300.0  # the first one reads what the worker has not applied yet
FOLLOW_EVERY = 0.5
FOLLOW_TIMEOUT = 10.0  # the follower's catch-up may have to start a new consumer
REDIS_PAUSE = 1.0  # after Redis failed, checks answer 503 at once for this long
LOOKUP_TIMEOUT = 10.0


class Unavailable(GatekeeperError):
    """The check cannot be decided now (503): ``retry_after`` seconds is a fair wait."""

    retriable = True

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Checked:
    decision: Decision | InvalidInput
    settled: asyncio.Future[None] | None  # the audit record is on Kafka (or Kafka is away)
    times: BatchTimes | None = None  # its batch's stage times (GATEKEEPER_HTTP_STAGES)


class Service:
    def __init__(self, settings: Settings, http: HttpSettings, core: Core | None = None):
        self.settings = settings
        self.http = http
        self.core = core or build_core(settings)
        self.gate = self.core.gate
        self.rules = rule_index(self.core.policy.packs)  # the debtor view names rules with it
        self.sink = AuditSink(settings.broker, settings.topics, http.audit_buffer,
                              ack_wait=http.audit_wait)
        self.catchup = EventsCatchUp(settings.broker, settings.topics["events"],
                                     settings.app_id, self._apply_events)
        self.events_ok = True
        self.caught_up = False  # the first catch-up (at start) is done
        self.events_refused: str | None = None  # Kafka refuses the events read: why
        self.lookup = DecisionLookup(settings.broker, settings.topics["decisions"], self.gate)
        self.checks: Batcher[tuple[ContactRequest, str, Reservation], Checked] = Batcher(
            self._decide, max_size=http.batch_size, window=http.batch_window,
            concurrency=http.batches)
        self.previews: Batcher[ContactRequest, Decision | InvalidInput] = Batcher(
            self._preview, max_size=http.batch_size, window=http.batch_window,
            concurrency=http.batches)
        self._catchup_lock = asyncio.Lock()
        self._caught_up_at = 0.0
        self._asked_at = 0.0  # perf_counter when the last catch-up done asked for the ends
        self._redis_failed_at = -REDIS_PAUSE
        self._tasks: list[asyncio.Task[None]] = []
        self._ensuring: asyncio.Task[None] | None = None
        self.stages = Stages()
        rebuild = self.core.keeper.rebuild

        async def rebuild_after_drain(progress: Progress) -> dict[str, Any]:
            # this process's held audit records go to Kafka first: the rebuild reads them
            await self.sink.drain(30.0)
            return await rebuild(progress)

        self.core.keeper.rebuild = rebuild_after_drain

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        await self.sink.start()
        self._hold()
        self._tasks.append(asyncio.create_task(self._follow()))
        self._tasks.append(asyncio.create_task(self.stages.run()))

    async def stop(self) -> None:
        await self.checks.close()
        await self.previews.close()
        for task in [*self._tasks, self._ensuring]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.sink.stop()
        self.stages.log()
        for closing in (self.catchup.stop(), self.lookup.stop(), self.core.store.close()):
            with contextlib.suppress(Exception):
                await closing

    def _hold(self) -> None:
        """Have the store verified (or rebuilt) in the background, once."""
        if self._ensuring is None or self._ensuring.done():
            self._ensuring = asyncio.create_task(self._ensure())

    async def _ensure(self) -> None:
        store, keeper = self.core.store, self.core.keeper
        delay = 0.1
        while True:
            try:
                if not store.shas:
                    await store.load_scripts()
                await keeper.ensure()
                if not self.caught_up:  # every acknowledged event, before the first check
                    async with self._catchup_lock:
                        await asyncio.wait_for(self.catchup.catch_up(datetime.now(UTC)),
                                               FIRST_CATCHUP_TIMEOUT)
                    self._caught_up_at = time.monotonic()
                    self.caught_up = True
                log.info("gatekeeper serve: the store is trusted and %d debtor events are "
                         "applied; policy %s", self.catchup.applied, self.core.policy.version)
                return
            except StoreUnavailable as exc:
                metrics.REDIS_ERRORS.inc()
                log.warning("holding: %s; retrying in %.1fs", exc, delay)
            except Exception as exc:  # noqa: BLE001 - keep trying: checks answer 503 meanwhile
                refusal = explain(exc)
                if refusal is None:
                    log.exception("verifying the store failed; retrying in %.1fs", delay)
                else:
                    self._refused(refusal)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    # ------------------------------------------------------------------ checks
    def _usable(self) -> None:
        """Raise ``Unavailable`` unless checks may be decided now."""
        keeper = self.core.keeper
        if not keeper.ready or not self.caught_up:
            self._hold()
            what = ("being rebuilt from Kafka" if keeper.rebuilding else
                    "not verified yet" if not keeper.ready else "catching up on debtor events")
            raise Unavailable(f"the store's memory is {what}: nothing is decided meanwhile", 5)
        if time.monotonic() - self._redis_failed_at < REDIS_PAUSE:
            raise Unavailable("Redis does not answer: nothing is decided meanwhile", 1)

    async def check(self, request: ContactRequest, source: str) -> Checked:
        """Decide, count and record a check; its audit entry is queued (and, while Kafka
        answers, acknowledged) before this returns."""
        self._usable()
        reservation = self.sink.reserve()
        if reservation is None:
            raise Unavailable(f"Kafka has not acknowledged the audit records of the last "
                              f"{self.sink.held} checks (the most this server holds): "
                              "nothing more is decided until it does", 5)
        submitted = time.perf_counter()
        try:
            checked = await self.checks.submit((request, source, reservation))
        finally:
            self.sink.release(reservation)  # a no-op once the entry took it
        resumed = time.perf_counter()
        if checked.settled is not None:
            await asyncio.shield(checked.settled)  # shared by the batch: never cancelled
        self.stages.check(submitted, checked.times, resumed)
        return checked

    async def dry_run(self, request: ContactRequest) -> Decision | InvalidInput:
        self._usable()
        return await self.previews.submit(request)

    async def _decide(self, items: Sequence[tuple[ContactRequest, str, Reservation]]
                      ) -> list[Checked]:
        metrics.BATCH.observe(len(items))
        times = self.stages.batch()
        await self._on_store(self._catch_up(time.perf_counter(), times))
        requests = [request for request, _, _ in items]
        results = await self._on_store(self.gate.decide_recorded(requests, datetime.now(UTC)))
        if times is not None:
            times.redis = time.perf_counter()
        entries: list[Entry | None] = []
        for (request, source, reservation), (decision, stored) in zip(items, results,
                                                                      strict=True):
            if isinstance(decision, InvalidInput):
                entries.append(None)
                continue
            outputs: list[Outgoing] = [routing.record(HTTP, request.raw, decision, stored,
                                                      via="http", source=source)]
            if decision["decision"] != "allowed":
                outputs.append(routing.review(HTTP, request.raw, decision))
            entries.append(self.sink.put(reservation, outputs, decision))
            metrics.count_decision(decision, request.channel)
        settled = self.sink.settled([e for e in entries if e is not None])
        if times is not None:
            times.queued = time.perf_counter()
        return [Checked(decision, None if entry is None else settled, times)
                for (decision, _), entry in zip(results, entries, strict=True)]

    async def _preview(self, requests: Sequence[ContactRequest]
                       ) -> list[Decision | InvalidInput]:
        await self._on_store(self._catch_up(time.perf_counter()))
        return await self._on_store(preview(self.gate, requests, datetime.now(UTC)))

    async def _on_store(self, step: Awaitable[T]) -> T:
        """Await a store step; Redis failures become ``Unavailable`` (and a loss starts the
        rebuild in the background)."""
        try:
            return await step
        except StoreLost as exc:
            metrics.REDIS_ERRORS.inc()
            log.warning("holding: %s", exc)
            self._hold()
            raise Unavailable(f"the store's memory cannot be trusted ({exc}); it is being "
                              "verified or rebuilt from Kafka", 5) from None
        except StoreUnavailable as exc:
            metrics.REDIS_ERRORS.inc()
            self._redis_failed_at = time.monotonic()
            log.warning("Redis failed: %s", exc)
            raise Unavailable(f"Redis does not answer ({exc})", 1) from None

    # ------------------------------------------------------------------ events catch-up
    async def _apply_events(self, batch: Sequence[Incoming], now: datetime) -> list[Outgoing]:
        return await process_events(self.gate, batch, now)  # invalid: the worker dead-letters

    async def _catch_up(self, since: float, times: BatchTimes | None = None) -> None:
        """Apply every event acknowledged before ``since`` (``time.perf_counter()``: when
        the batch's last check had arrived); while Kafka does not answer, go on without (the
        follower catches up when it answers again). The end offsets are asked for at once,
        while another batch's catch-up may still run (reading is one at a time); a batch
        that waited for another's catch-up whose end offsets were asked for after ``since``
        has nothing more to read, and skips its own."""
        if not self.events_ok and self.events_refused is None:
            return
        asked = time.perf_counter()
        ends = asyncio.ensure_future(self._ends(times))
        try:
            async with self._catchup_lock:
                if self._asked_at > since:
                    return
                await self._catch_up_locked(times=times, ends=ends, asked=asked)
        finally:
            if not ends.done():
                ends.cancel()
            elif not ends.cancelled():
                ends.exception()  # retrieved (a failure was handled by the catch-up)

    async def _ends(self, times: BatchTimes | None = None) -> dict[Any, int]:
        """The events topic's end offsets (one ListOffsets request)."""
        found = await self.catchup.end_offsets()
        if times is not None:
            times.ends = time.perf_counter()
        return found

    async def _catch_up_locked(self, timeout: float = CATCHUP_TIMEOUT,
                               times: BatchTimes | None = None,
                               ends: Awaitable[dict[Any, int]] | None = None,
                               asked: float | None = None) -> None:
        asked = time.perf_counter() if asked is None else asked
        try:
            await asyncio.wait_for(
                self.catchup.catch_up(datetime.now(UTC), ends or self._ends()), timeout)
            if times is not None:
                times.read = time.perf_counter()
        except StoreUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - Kafka is away: decide from what is applied
            refusal = explain(exc)
            if refusal is not None:  # not away: it acknowledges events this cannot read
                self._refused(refusal)
                raise Unavailable(f"debtor events cannot be read: {refusal}: nothing is "
                                  "decided meanwhile", 5) from None
            if self.events_ok:
                log.warning("debtor events cannot be read (%s: %s): deciding from the events "
                            "applied so far until Kafka answers", type(exc).__name__, exc)
            self.events_ok = False
            metrics.EVENTS_CAUGHT_UP.set(0)
            metrics.KAFKA_ERRORS.inc()
            if timeout >= FOLLOW_TIMEOUT:  # the follower's: a fresh consumer next time
                with contextlib.suppress(Exception):
                    await self.catchup.stop()
            return
        self._caught_up_at = time.monotonic()
        self._asked_at = asked
        if self.events_refused is not None:
            log.warning("debtor events are allowed again: checks are decided")
            self.events_refused = None
        if not self.events_ok:
            log.warning("debtor events are read again before every check")
        self.events_ok = True
        metrics.EVENTS_CAUGHT_UP.set(1)

    async def _follow(self) -> None:
        """Catch up every half second besides the batches (so that an idle server is not
        behind when Kafka goes away), and find out when Kafka answers again."""
        while True:
            await asyncio.sleep(FOLLOW_EVERY)
            if not (self.core.keeper.ready and self.caught_up) or self._catchup_lock.locked():
                continue
            if self.events_ok and time.monotonic() - self._caught_up_at < FOLLOW_EVERY:
                continue
            async with self._catchup_lock:
                with contextlib.suppress(StoreUnavailable, Unavailable):
                    await self._catch_up_locked(FOLLOW_TIMEOUT)

    def _refused(self, refusal: str) -> None:
        """Kafka refuses this server the events: said once a minute, with who and what."""
        metrics.KAFKA_ERRORS.inc()
        if refusal_logs.due(("serve", refusal)):
            log.warning("holding checks: %s", refusal)
        self.events_refused = refusal

    # ------------------------------------------------------------------ the rest
    async def decision(self, request_id: str, debtor_id: str) -> Decision | None:
        held = self.sink.held_decision(request_id)
        if held is not None and held["debtor_id"] == debtor_id:
            return held
        self._usable()
        record = await self._on_store(self.lookup.record(request_id, debtor_id,
                                                          datetime.now(UTC)))
        if record is None:
            return None
        try:
            found = await asyncio.wait_for(self.lookup.decision(request_id, debtor_id, record),
                                           LOOKUP_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - Kafka away or slow
            raise Unavailable(f"the decision is on record, but contact.decisions cannot be "
                              f"read now ({type(exc).__name__})", 5) from None
        if found is None:
            raise Unavailable("the decision is on record, but its audit record was not found "
                              "on contact.decisions yet", 5)
        return found

    async def debtor(self, debtor_id: str) -> dict[str, Any]:
        self._usable()
        state, counters = await self._on_store(self.core.store.read(
            [("HGETALL", state_key(debtor_id)), ("HGETALL", counters_key(debtor_id))]))
        return describe_debtor(debtor_id, state, counters, self.rules)

    async def event(self, body: bytes) -> dict[str, Any]:
        """Validate, produce to debtor.events, and (once acknowledged) apply it here too."""
        event = parse_event(body)
        meta = await self._produce("events", event.debtor_id, body)
        if self.core.keeper.ready:
            with contextlib.suppress(StoreUnavailable):  # the catch-up applies it otherwise
                await self.gate.apply_events([event])
        return _accepted(meta)

    async def outcome(self, body: bytes) -> dict[str, Any]:
        """Validate, produce to contact.outcomes, and (once acknowledged) settle it here too
        (settling is once per request, so the worker settling it again changes nothing)."""
        outcome = parse_outcome(body)
        meta = await self._produce("outcomes", outcome.debtor_id, body)
        if self.core.keeper.ready:
            with contextlib.suppress(StoreUnavailable):
                await self.gate.apply_outcomes([outcome], datetime.now(UTC))
        return _accepted(meta)

    async def _produce(self, kind: str, debtor_id: str, body: bytes) -> Any:
        try:
            return await self.sink.produce(kind, debtor_id.encode(), body)
        except KafkaUnavailable as exc:
            raise Unavailable(str(exc), 5) from None

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Redis answers, scripts loaded, memory trusted, Kafka answers."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.core.store.ping(), 1.0)
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            checks["redis"] = f"does not answer ({type(exc).__name__})"
        checks["scripts"] = "loaded" if self.core.store.shas else "not loaded"
        keeper = self.core.keeper
        checks["memory"] = ("trusted" if self.caught_up else "catching up on debtor events"
                            ) if keeper.ready else (
            "being rebuilt from Kafka" if keeper.rebuilding else "not verified")
        kafka = []
        if not self.sink.healthy:
            kafka.append(f"{self.sink.held} audit records wait for an acknowledgement")
        if self.events_refused is not None:
            kafka.append(f"debtor events refused: {self.events_refused}")
        elif not self.events_ok:
            kafka.append("debtor events cannot be read")
        checks["kafka"] = "; ".join(kafka) or "ok"
        ready = (checks["redis"] == "ok" and checks["scripts"] == "loaded"
                 and checks["memory"] == "trusted" and checks["kafka"] == "ok")
        return ready, checks


def _accepted(meta: Any) -> dict[str, Any]:
    return {"accepted": True, "topic": meta.topic, "partition": meta.partition,
            "offset": meta.offset}
