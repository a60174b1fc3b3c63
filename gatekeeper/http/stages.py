"""Where a check's time goes, stage by stage: a debug aid, off by default
(``GATEKEEPER_HTTP_STAGES=1`` turns it on).

A check's stages: ``batcher`` (submitted until its batch starts), ``list_offsets`` (the
events topic's end offsets asked of Kafka), ``events`` (the events behind them read and
applied), ``redis`` (the batch decided in one pipeline), ``audit_queue`` (its audit entries
built and queued), ``resume`` (the batch done until the check's own coroutine runs again),
``audit_ack`` (waiting for Kafka's acknowledgement of its audit record), and ``total``.
Every ``every`` seconds (and at stop) the log gets one line: each stage's p50/p99/max in ms
over the checks answered since the last line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass

log = logging.getLogger("gatekeeper.http.stages")
VARIABLE = "GATEKEEPER_HTTP_STAGES"
STAGES = ("batcher", "list_offsets", "events", "redis", "audit_queue", "resume", "audit_ack",
          "total")
KEPT = 200_000  # checks remembered between two lines at most


@dataclass(slots=True)
class BatchTimes:
    """``time.perf_counter()`` at each step of one batch."""

    start: float = 0.0
    ends: float = 0.0  # ListOffsets answered (the start again when no catch-up ran)
    read: float = 0.0
    redis: float = 0.0
    queued: float = 0.0


class Stages:
    def __init__(self, enabled: bool | None = None, every: float = 5.0):
        self.enabled = (os.environ.get(VARIABLE, "").lower() in ("1", "true", "yes")
                        if enabled is None else enabled)
        self.every = every
        self._rows: list[tuple[float, ...]] = []

    def batch(self) -> BatchTimes | None:
        """A batch's times, started now (None when off)."""
        if not self.enabled:
            return None
        now = time.perf_counter()
        return BatchTimes(now, now, now, now, now)

    def check(self, submitted: float, batch: BatchTimes | None, resumed: float) -> None:
        """One check answered now: it was submitted at ``submitted``, went in ``batch`` and
        its coroutine ran again at ``resumed`` (before it waited for the audit ack)."""
        if batch is None or len(self._rows) >= KEPT:
            return
        answered = time.perf_counter()
        ends, read = max(batch.ends, batch.start), max(batch.read, batch.ends, batch.start)
        self._rows.append((batch.start - submitted, ends - batch.start, read - ends,
                           batch.redis - read, batch.queued - batch.redis,
                           resumed - batch.queued, answered - resumed, answered - submitted))

    def summary(self) -> dict[str, object]:
        """Each stage's p50/p99/max in ms over the checks since the last summary (reset)."""
        rows, self._rows = self._rows, []
        found: dict[str, object] = {"checks": len(rows)}
        for i, stage in enumerate(STAGES):
            values = sorted(row[i] for row in rows)
            if values:
                found[stage] = [round(1000 * values[int(q * (len(values) - 1))], 2)
                                for q in (0.5, 0.99, 1.0)]
        return found

    async def run(self) -> None:
        """Log a summary every ``every`` seconds while checks come."""
        while self.enabled:
            await asyncio.sleep(self.every)
            if self._rows:
                self.log()

    def log(self) -> None:
        if self.enabled and self._rows:
            log.warning("http stages (ms: p50, p99, max): %s", json.dumps(self.summary()))
