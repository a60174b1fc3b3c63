"""Rebuild the Redis working copy from the Kafka record.

What binds is on Kafka: ``debtor.events`` (kept forever), ``contact.decisions`` and
``contact.outcomes`` (kept for the record retention, at least the longest policy window).
A rebuild replays them through the same gate code that made them, partition by partition
(the topics are co-partitioned by debtor, so one partition number holds every message of
its debtors), in the order the live gate saw them (broker timestamps):

* every debtor event since the beginning, applied as the events agent applies it;
* every decision within the windows, planned again at its recorded time from the state the
  replay has reached: its record is put back (so a replayed request gets its first decision)
  and, when it was allowed, its counts (``Gate.restore``);
* every outcome within the windows, settling its reservation and starting cool-downs;
* then the deferral schedule (``deferral/rebuild.py``).

Messages that were dead-lettered live (invalid) are skipped again. Nothing here decides
anything new.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson

from gatekeeper.brokers import bootstrap
from gatekeeper.deferral.rebuild import rebuild_schedule
from gatekeeper.errors import InvalidInput
from gatekeeper.gate import Gate, Recorded
from gatekeeper.model import ContactOutcome, ContactRequest, DebtorEvent
from gatekeeper.record_reader import (
    KINDS,
    Item,
    partition_groups,
    read_partitions,
    record_consumer,
)
from gatekeeper.settings import Settings
from gatekeeper.timebounds import TimeBounds, admit_event, admit_outcome
from gatekeeper.topics import partitions_of
from gatekeeper.validate import parse_event, parse_outcome, request_from_dict

log = logging.getLogger(__name__)
CHUNK = 2000
DAY_MS = 86_400_000


@dataclass
class Stats:
    events: int = 0
    decisions: int = 0
    outcomes: int = 0
    restored: int = 0
    duplicates: int = 0
    skipped: int = 0
    partitions: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "decisions": self.decisions, "outcomes": self.outcomes,
                "restored": self.restored, "duplicates": self.duplicates,
                "skipped": self.skipped, "partitions": self.partitions}


def window_days(gate: Gate) -> int:
    """How far back decisions and outcomes still matter: the longest window, two decision
    TTLs (records live that long) and two days of time-zone margin."""
    return needed_days(gate.policy.max_window_days, gate.ttls.decision_seconds // 86400)


def needed_days(max_window_days: int, decision_ttl_days: int) -> int:
    """The retention contact.decisions and contact.outcomes need at the least."""
    return max_window_days + 2 * decision_ttl_days + 2


async def rebuild(settings: Settings, gate: Gate, progress: Callable[[str], None],
                  *, now: datetime | None = None) -> dict[str, Any]:
    """Replay the record into the (wiped, guarded) store behind ``gate``."""
    now = now or datetime.now(UTC)
    since_ms = int((now - timedelta(days=window_days(gate))).timestamp() * 1000)
    topics = {kind: settings.topics[kind] for kind in KINDS}
    stats = Stats()
    consumer = record_consumer(bootstrap(settings.broker))
    await consumer.start()
    try:
        found = await partitions_of(settings.broker, list(topics.values()))
        groups = partition_groups(found)
        started, last_report = time.monotonic(), 0.0
        for index, group in enumerate(groups):
            items = await read_partitions(consumer, topics, found, group, {
                "events": None, "decisions": since_ms, "outcomes": since_ms})
            stats.partitions += len(group)
            batches = _Batches(gate, now, stats, TimeBounds.from_settings(settings))
            for item in items:
                await batches.add(item)
                if time.monotonic() - last_report > 2.0:
                    last_report = time.monotonic()
                    progress(_progress(stats, index, len(groups), started))
            await batches.flush_all()
        progress(_progress(stats, len(groups) - 1, len(groups), started) + ", done")
    finally:
        await consumer.stop()
    return {**stats.as_dict(),  # then the deferral schedule, from the records now back
            **await rebuild_schedule(settings, gate.store, now)}


def _progress(stats: Stats, number: int, total: int, started: float) -> str:
    seconds = time.monotonic() - started
    done = stats.events + stats.decisions + stats.outcomes
    return (f"partition group {number + 1}/{total}: {stats.events} events, {stats.decisions} "
            f"decisions ({stats.restored} restored), {stats.outcomes} outcomes in "
            f"{seconds:.1f}s ({done / max(seconds, 1e-3):,.0f} messages/s)")


class _Batches:
    """Pending runs of each kind, applied in big pipelined steps while keeping the orders
    that matter, and only those (counts and last-writer-wins state commute):

    * a decision that must be planned again (counted under another hashing key) sees its
      debtor's events up to its time, and none after;
    * a decision's record exists before the outcomes that settle it (outcomes are applied
      only by ``flush_all``, after the decisions).
    """

    def __init__(self, gate: Gate, now: datetime, stats: Stats, bounds: TimeBounds):
        self.gate, self.now, self.stats, self.bounds = gate, now, stats, bounds
        self.events: list[DebtorEvent] = []
        self.decisions: list[Recorded] = []
        self.outcomes: list[tuple[int, ContactOutcome]] = []
        self.event_debtors: set[str] = set()
        self.planned_debtors: set[str] = set()  # debtors of pending decisions to plan again

    async def add(self, item: Item) -> None:
        stats, at = self.stats, _at(item.timestamp)
        try:
            if item.order == 0:
                event = admit_event(parse_event(item.value), at, self.bounds)
                if event.debtor_id in self.planned_debtors:
                    await self.flush_decisions()
                self.events.append(event)
                self.event_debtors.add(event.debtor_id)
            elif item.order == 1:
                recorded = _decision(item)
                if recorded is None:
                    stats.skipped += 1
                    return
                debtor_id, _, _, text = recorded
                if self.gate.must_plan(text):
                    if debtor_id in self.event_debtors:
                        await self.flush_events()
                    self.planned_debtors.add(debtor_id)
                self.decisions.append(recorded)
            else:
                outcome = admit_outcome(parse_outcome(item.value), at, self.bounds)
                self.outcomes.append((item.timestamp, outcome))  # after its decision: outcomes
                # are only ever applied by flush_all, after the decisions pending with them
        except InvalidInput:  # dead-lettered live: left out again
            stats.skipped += 1
            return
        if max(len(self.events), len(self.decisions), len(self.outcomes)) >= CHUNK:
            await self.flush_all()

    async def flush_events(self) -> None:
        events, self.events, self.event_debtors = self.events, [], set()
        if events:
            await self.gate.apply_events(events)
            self.stats.events += len(events)

    async def flush_decisions(self) -> None:
        recorded, self.decisions = self.decisions, []
        self.planned_debtors = set()
        if recorded:
            counts = await self.gate.restore(recorded, self.now)
            self.stats.decisions += len(recorded)
            self.stats.restored += counts["restored"]
            self.stats.duplicates += counts["duplicates"]

    async def flush_outcomes(self) -> None:
        """Settled in the generation of the time they were applied live."""
        outcomes, self.outcomes = self.outcomes, []
        ttl = self.gate.ttls.decision_seconds
        by_generation: dict[int, tuple[int, list[ContactOutcome]]] = {}
        for timestamp, outcome in outcomes:
            by_generation.setdefault(timestamp // 1000 // ttl, (timestamp, []))[1].append(
                outcome)
        for first, group in by_generation.values():
            await self.gate.apply_outcomes(group, _at(first))
            self.stats.outcomes += len(group)

    async def flush_all(self) -> None:
        await self.flush_events()
        await self.flush_decisions()
        await self.flush_outcomes()


def _at(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)


def _decision(item: Item) -> Recorded | None:
    """A contact.decisions message as the gate restores it (None when it cannot be read:
    it is counted as skipped). The request is parsed only if it must be planned again."""
    try:
        body = orjson.loads(item.value)
        raw, decision = body["request"], body["decision"]
        if decision["decision"] not in ("allowed", "blocked"):
            return None
        record = item.record or _record_from(decision, request_from_dict(raw))
        return (str(decision["debtor_id"]), str(decision["request_id"]),
                partial(request_from_dict, raw), record)
    except (orjson.JSONDecodeError, InvalidInput, KeyError, TypeError, ValueError):
        return None


def _record_from(decision: dict[str, Any], request: ContactRequest) -> str:
    """A record for a decision that came without one (its counts and last contact are not
    known: a replay words limit reasons from zero counts)."""
    from gatekeeper.gate import content_hash
    from gatekeeper.timeutil import parse_rfc3339

    when = parse_rfc3339(decision["evaluated_at"]).timestamp()
    status = "a" if decision["decision"] == "allowed" else "b"
    return " ".join((status, f"{when:.3f}", content_hash(request), "-", "-", "-"))
