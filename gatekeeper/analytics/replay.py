"""Replaying history through the gate in big pipelined steps: debtor lanes, applied in waves.

Nothing the gate keeps crosses debtors (counters, decision records and state are per debtor,
all under ``gk:{<debtor>}:``), so only each debtor's own order matters. ``Lanes`` splits the
history (in time order) into one lane per debtor and applies it in waves: each wave takes,
from every lane, its next run of steps of one kind (a debtor's next requests, or its next
events, or its next outcomes), and applies each kind's steps of the wave in one pipeline per
chunk. A debtor's steps stay in order; a wave holds as many debtors as the history has, so a
month of sparse traffic (a debtor every few minutes) is replayed in pipelines as full as a
burst, in about as many waves as the busiest debtor switches kinds.

Each step is decided or applied at its own time: the store's only clock is the one passed in
(the private redis-server's own expiries are hours away and play no part in a replay).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Handler = Callable[[list["Step"]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Step:
    kind: int  # the caller's kinds: which handler applies it
    at: datetime  # when it happens (a decision: its time; an event, outcome: when applied)
    debtor: str
    payload: Any


class Lanes:
    def __init__(self, handlers: Mapping[int, Handler], *, chunk: int = 2000,
                 progress: Callable[[int], None] | None = None):
        self.handlers, self.chunk = handlers, chunk
        self.progress = progress or (lambda _: None)
        self.done = 0
        self.waves = 0

    async def run(self, steps: Iterable[Step]) -> None:
        """Apply ``steps`` (in time order): each debtor's in order, debtors side by side."""
        lanes: dict[str, deque[Step]] = {}
        for step in steps:
            lane = lanes.get(step.debtor)
            if lane is None:
                lanes[step.debtor] = lane = deque()
            lane.append(step)
        active = list(lanes.values())
        while active:
            self.waves += 1
            buckets: dict[int, list[Step]] = {}
            left = []
            for lane in active:
                kind = lane[0].kind
                bucket = buckets.setdefault(kind, [])
                while lane and lane[0].kind == kind:
                    bucket.append(lane.popleft())
                if lane:
                    left.append(lane)
            for kind in sorted(buckets):
                bucket = buckets[kind]
                for start in range(0, len(bucket), self.chunk):
                    part = bucket[start:start + self.chunk]
                    await self.handlers[kind](part)
                    self.done += len(part)
                    self.progress(self.done)
            active = left
