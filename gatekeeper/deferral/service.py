"""The worker's release loop: every ``TICK`` seconds, the entries due in the schedules of
the request partitions this worker is assigned, oldest time first and in request order
within a time, paced at ``rate`` per second (a burst of at most one second's worth), so
that thousands parked until one instant do not stampede the carriers: the k-th of them
leaves about k / rate seconds after its time, by design. At most ``batch`` are decided in
one step (one gate batch), so that the first of a crowd go out at once.

    due (one pipeline) ──► claim ──► decide (the gate) ──► deliver, acknowledged
        ──► settle (finish or park again)

A claim holds an entry for ``LEASE_MS``: a cancel that comes meanwhile is told the release
is under way, and nothing else releases it. A crash after the claim leaves it to be
released again once the lease ends (the attempt's decision is replayed, the same messages
are sent again: consumers de-duplicate by decision id, as on the stream path). Failures of
Redis and Kafka hold the loop as they hold the request loop (``Runner``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from gatekeeper import metrics
from gatekeeper.counters import schedule_wire as sw
from gatekeeper.counters.contract import StoreContract
from gatekeeper.deferral.release import Released, decide_due
from gatekeeper.deferral.schedule import Schedule
from gatekeeper.gate import Gate
from gatekeeper.settings import Settings
from gatekeeper.stream.routing import Outgoing
from gatekeeper.stream.runner import Runner

log = logging.getLogger("gatekeeper.deferral")
TICK = 0.1
IDLE_LOOK = 60.0  # with nothing parked, Redis is asked again this often (or when woken)
Clock = Callable[[], datetime]
T = TypeVar("T")


class Releaser:
    def __init__(self, gate: Gate, schedule: Schedule, runner: Runner,
                 partitions: Callable[[], Sequence[int]], *, signing_key: bytes | None,
                 rate: float, batch: int = 500, clock: Clock = lambda: datetime.now(UTC),
                 before_decide: Callable[[], Awaitable[object]] | None = None):
        self.gate = gate
        self.schedule = schedule
        self.runner = runner
        self.partitions = partitions
        self.signing_key = signing_key
        self.rate = max(rate, 1.0)
        self.batch = batch  # releases decided in one step at most (the first go out sooner)
        self.before_decide = before_decide  # the worker applies the acknowledged events there
        self.clock = clock
        self._tokens = self.rate
        self._last = time.monotonic()
        self._parked: int | None = None  # entries in this worker's schedules at the last look
        # when, for which partitions, and the store's verified epoch then
        self._looked: tuple[float, tuple[int, ...], str | None] = (0.0, (), None)

    async def run(self) -> None:
        while True:
            if not self._worth_a_look():
                await asyncio.sleep(TICK)
                continue
            try:
                released = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop goes on; the entry stays
                self.runner.failures.unexpected("releasing deferred requests", exc)
                released = 0
            if released == 0:
                await asyncio.sleep(TICK)

    def _worth_a_look(self) -> bool:
        """Whether to ask Redis now: every tick while anything is parked; with nothing
        parked only when this worker parked something, its partitions changed (another
        worker's schedules became its own), the store's epoch changed (a rebuild or a
        restore refilled the schedules), or ``IDLE_LOOK`` seconds passed (a safety net), so
        that an idle schedule costs the request path's Redis no round trip per batch."""
        if self._parked != 0 or self.schedule.woken:
            return True
        when, partitions, epoch = self._looked
        return (tuple(self.partitions()) != partitions
                or self.schedule.store.epoch != epoch
                or time.monotonic() - when >= IDLE_LOOK)

    def _allowance(self) -> int:
        now = time.monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
        self._last = now
        return int(self._tokens)

    async def step(self) -> int:
        """Release what is due now, within the pace; how many were released."""
        partitions = list(self.partitions())
        self.schedule.woken = False
        self._looked = (time.monotonic(), tuple(partitions), self.schedule.store.epoch)
        limit = min(self._allowance(), self.batch)
        if not partitions or limit < 1:
            return 0
        dues = await self._due(partitions, limit)
        if not dues:
            return 0
        self._tokens -= len(dues)
        now = self.clock()
        answers = await self._held(lambda: self.schedule.store.run(
            [sw.claim_call(d.partition, d.request_id, d.attempt, now) for d in dues]))
        chosen = [d for d, a in zip(dues, answers, strict=True) if sw.status(a)[0] == "claimed"]
        if not chosen:
            return 0
        results = await self._held(lambda: self._decide(chosen))
        await self.runner.deliver([o for r in results for o in r.outputs])
        await self._held(lambda: self.schedule.store.run([r.settle for r in results]))
        self._count(results, now)
        return len(chosen)

    async def _decide(self, chosen: list[sw.Due]) -> list[Released]:
        """Decide at the time of this attempt, after every debtor event the broker had
        acknowledged by then is applied (an opt-out just before the release binds it)."""
        if self.before_decide is not None:
            await self.before_decide()
        return await decide_due(self.gate, self.schedule, chosen, self.clock(),
                                self.signing_key)

    async def _held(self, work: Callable[[], Awaitable[T]]) -> T:
        """``work``'s answer, retried while Redis fails (held, as the request loop is)."""
        box: list[T] = []

        async def step() -> list[Outgoing]:
            box[:] = [await work()]
            return []

        await self.runner.until_done(step, "deferrals")
        return box[0]

    async def _due(self, partitions: list[int], limit: int) -> list[sw.Due]:
        now = self.clock()
        answers = await self._held(lambda: self.schedule.store.run(
            [sw.due_call(p, now, limit) for p in partitions]))
        parked, dues = 0, []
        for partition, answer in zip(partitions, answers, strict=True):
            size, due = sw.due_answer(partition, answer)
            parked += size
            dues += due
        metrics.DEFER_PARKED_NOW.set(parked)
        self._parked = parked
        dues.sort(key=lambda d: (d.until, d.entry.offset))  # across partitions: by time
        return dues[:limit]

    @staticmethod
    def _count(results: list[Released], now: datetime) -> None:
        for result in results:
            metrics.DEFER_LAG.observe(max(0.0, (now - result.due.until).total_seconds()))
            if result.fate == "released":
                metrics.DEFER_RELEASED.inc()
            elif result.fate == "reparked":
                metrics.DEFER_REPARKED.inc()
            else:
                metrics.DEFER_EXPIRED.inc()


def deferral_schedule(settings: Settings, store: StoreContract) -> Schedule:
    """The schedule as the settings shape it (finished ids kept for the decision TTL: as
    long as a replay of the request could find its recorded decision)."""
    return Schedule(store, horizon_days=settings.defer_horizon,
                    max_attempts=settings.defer_max_attempts,
                    keep_seconds=settings.decision_ttl_days * 86400)

