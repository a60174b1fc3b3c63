"""Where a request batch's time goes, stage by stage: a debug aid, off by default.

With ``GATEKEEPER_STAGE_TIMES=1`` in the worker's environment, the hot loop gives each batch
a ``Timeline`` (in a context variable, so the steps it awaits find it) and every stage adds
the time it took; when the batch's outputs are acknowledged, each stage's total goes to the
histogram ``gatekeeper_batch_stage_seconds{stage=...}`` (the worker's metrics endpoint):

    ends asked    the events topic's end offsets (one ListOffsets; asked as the batch starts)
    catch-up      waiting for them, and applying the events behind them (none, mostly)
    redis         the gate's store calls (decide.lua: one pipeline per batch)
    decide        the rest of deciding: parsing, checks, planning, verdicts, outputs
    send          handing the outputs to the producer (record batches)
    wait slot     the loop waiting for a delivery slot (``IN_FLIGHT``)
    acks          from handed over to every acknowledgement
    in order      after the acks, waiting for the previous batch to be delivered
    total         read to delivered (the same span as ``gatekeeper_decision_seconds``)

and, off the batches' path, ``commit`` (one offset commit). Stages can overlap (the end
offsets are asked while the batch is parsed), so the stages need not add up to the total.
Off (the default) a stage costs one context-variable look-up.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from prometheus_client import Histogram

ENV = "GATEKEEPER_STAGE_TIMES"
STAGES = Histogram("gatekeeper_batch_stage_seconds",
                   f"Time a request batch spends in each stage (only with {ENV}=1)", ["stage"],
                   buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025,
                            0.05, 0.1, 0.25, 1.0))
P = ParamSpec("P")
R = TypeVar("R")


def enabled() -> bool:
    return os.environ.get(ENV, "").strip() not in ("", "0")


class Timeline:
    """One batch's stages: name -> seconds (a stage entered twice adds up)."""

    __slots__ = ("spans",)

    def __init__(self) -> None:
        self.spans: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.spans[stage] = self.spans.get(stage, 0.0) + seconds

    def observe(self) -> None:
        for stage, seconds in self.spans.items():
            STAGES.labels(stage).observe(seconds)


_current: ContextVar[Timeline | None] = ContextVar("gatekeeper_batch_timeline", default=None)


def begin(on: bool) -> Timeline | None:
    """A new timeline for the batch this task starts (``None`` when ``on`` is false)."""
    timeline = Timeline() if on else None
    _current.set(timeline)
    return timeline


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the time spent in the block to the current batch's ``name`` (if timed)."""
    timeline = _current.get()
    if timeline is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        timeline.add(name, time.perf_counter() - started)


def timed(name: str, call: Callable[P, Awaitable[R]]
          ) -> Callable[P, Coroutine[Any, Any, R]]:
    """``call``, with the time each call takes added to the current batch's ``name``."""
    async def timed_call(*args: P.args, **kwargs: P.kwargs) -> R:
        with stage(name):
            return await call(*args, **kwargs)
    return timed_call


def observe(name: str, seconds: float) -> None:
    """A stage outside any batch (the commit, shared by the batches it covers)."""
    STAGES.labels(name).observe(seconds)
