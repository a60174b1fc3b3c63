"""The schedule rebuilt from the Kafka record after a Redis loss (``restore.rebuild`` calls
it once debtor state and decision records are back).

Per parked request, within the horizon and the decision TTL (older ones cannot be parked
any more):

* its announcements on ``contact.deferred`` (the last attempt's time, and the original
  bytes, key, partition and order the entry needs);
* its release attempts on ``contact.decisions`` (``"via": "deferral"``): ``fate`` released
  or reviewed finishes it; parked moves it to the next attempt;
* its cancels on ``contact.deferred`` (``"found": "cancelled"``) finish it.

A request not finished is parked again at its last attempt (an attempt decided but not yet
announced is decided again: its record is back, so the same decision is replayed); a
finished one is remembered as finished, so that a replay of it never parks it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from gatekeeper.brokers import bootstrap
from gatekeeper.counters import schedule_wire as sw
from gatekeeper.counters.contract import StoreContract
from gatekeeper.counters.wire import Call
from gatekeeper.record_reader import partition_groups, read_partitions, record_consumer
from gatekeeper.settings import Settings
from gatekeeper.timeutil import parse_rfc3339
from gatekeeper.topics import partitions_of

CHUNK = 2000


@dataclass
class Parked:
    partition: int
    entry: sw.Entry
    attempt: int = 1
    until: datetime | None = None
    finished: str | None = None
    when: datetime | None = None


@dataclass
class Fold:
    """The record folded into each request's last state (pure; fed in timestamp order)."""

    parked: dict[str, Parked] = field(default_factory=dict)
    fates: dict[str, tuple[int, str, datetime]] = field(default_factory=dict)
    cancelled: dict[str, datetime] = field(default_factory=dict)

    def deferred(self, value: bytes) -> None:
        body = orjson.loads(value)
        if "cancel" in body:
            if body.get("found") == "cancelled":
                self.cancelled[str(body["cancel"])] = parse_rfc3339(body["at"])
            return
        request_id = str(body["request"]["request_id"])
        key = body["decision"]["debtor_id"]
        entry = sw.Entry(body["original"].encode(), str(key).encode(), body["deferred_from"],
                         int(body["offset"]))
        known = self.parked.get(request_id)
        if known is None or known.attempt <= int(body["attempt"]):
            self.parked[request_id] = Parked(int(body["partition"]), entry,
                                             int(body["attempt"]),
                                             parse_rfc3339(body["deferred_until"]))

    def decision(self, value: bytes) -> None:
        body = orjson.loads(value)
        if body.get("via") != "deferral" or "defers" not in body:
            return
        request_id, attempt = str(body["defers"]), int(body["attempt"])
        known = self.fates.get(request_id)
        if known is None or known[0] <= attempt:
            self.fates[request_id] = (attempt, str(body.get("fate", "reviewed")),
                                      parse_rfc3339(body["decision"]["evaluated_at"]))

    def states(self) -> dict[str, Parked]:
        """Each announced request's state now."""
        out = {}
        for request_id, parked in self.parked.items():
            fate = self.fates.get(request_id)
            if request_id in self.cancelled:
                parked.finished, parked.when = "cancelled", self.cancelled[request_id]
            elif fate is not None and fate[1] in ("released", "reviewed"):
                parked.finished, parked.when = fate[1], fate[2]
                parked.attempt = max(parked.attempt, fate[0])
            elif fate is not None and fate[0] >= parked.attempt:
                # decided, not announced: decided again (the same decision is replayed)
                parked.attempt, parked.until = fate[0], fate[2]
            out[request_id] = parked
        return out


def calls(states: dict[str, Parked], keep_seconds: int) -> list[Call]:
    """The schedule calls that put ``states`` back."""
    out = []
    for request_id, parked in states.items():
        until = parked.until or parked.when
        assert until is not None
        out.append(sw.park_call(parked.partition, request_id, until, parked.entry,
                                parked.attempt))
        if parked.finished is not None and parked.when is not None:
            out.append(sw.finish_call(parked.partition, request_id, parked.attempt,
                                      parked.finished, parked.when, keep_seconds))
    return out


async def rebuild_schedule(settings: Settings, store: StoreContract, now: datetime
                           ) -> dict[str, Any]:
    """Put the schedule back; how many requests are parked again, and remembered finished."""
    keep = settings.decision_ttl_days * 86400
    since = now - timedelta(days=settings.defer_horizon, seconds=keep) - timedelta(days=1)
    since_ms = int(since.timestamp() * 1000)
    # (read through the record reader's two slots: the announcements in the first)
    topics = {"events": settings.topics["deferred"], "decisions": settings.topics["decisions"]}
    consumer = record_consumer(bootstrap(settings.broker))
    await consumer.start()
    parked = finished = 0
    try:
        found = await partitions_of(settings.broker, list(topics.values()))
        if settings.topics["deferred"] not in found:
            return {"deferred_parked": 0, "deferred_finished": 0}
        for group in partition_groups(found):
            fold = Fold()
            items = await read_partitions(consumer, topics, found, group,
                                          {"events": since_ms, "decisions": since_ms})
            for item in items:
                try:
                    (fold.deferred if item.order == 0 else fold.decision)(item.value)
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue  # not a message of deferral
            states = fold.states()
            todo = calls(states, keep)
            for at in range(0, len(todo), CHUNK):
                await store.run(todo[at:at + CHUNK])
            finished += sum(1 for s in states.values() if s.finished)
            parked += sum(1 for s in states.values() if not s.finished)
    finally:
        await consumer.stop()
    return {"deferred_parked": parked, "deferred_finished": finished}
