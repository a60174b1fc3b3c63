"""Concurrent checks gathered into one call (one store round trip), up to ``concurrency``
calls at a time.

A check submitted while fewer than ``concurrency`` batches run waits ``window`` seconds (0:
one turn of the event loop, so that checks arriving together go together) and goes; checks
submitted while ``concurrency`` batches run wait for one of them to end and go together in
the next, up to ``max_size`` each. Under load, batches grow by themselves to what arrives
during one round trip; alone, a check waits for nothing. With ``concurrency`` 2, a batch can
start (its events catch-up, which the caller keeps serial) while the previous one waits for
Redis, instead of after it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    def __init__(self, run: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]], *,
                 max_size: int = 500, window: float = 0.0, concurrency: int = 1):
        self.run = run
        self.max_size = max_size
        self.window = window
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[None]] = set()
        self.batches = 0  # calls of ``run`` so far

    async def submit(self, item: Item) -> Result:
        """The item's result, from the batch it went in (or that batch's exception)."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            first = True
            while self._pending:
                if first and len(self._pending) < self.max_size:
                    await asyncio.sleep(self.window)
                first = False
                await self._slots.acquire()
                batch = [(item, future) for item, future in self._pending[:self.max_size]
                         if not future.done()]  # a caller that gave up is left out
                del self._pending[:self.max_size]
                if not batch:
                    self._slots.release()
                    continue
                task = asyncio.create_task(self._one(batch))
                self._running.add(task)
                task.add_done_callback(self._ended)
        finally:
            for _, future in self._pending:  # only when cancelled (shutdown)
                future.cancel()

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def _one(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        self.batches += 1
        try:
            results = await self.run([item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every caller of the batch gets it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def close(self) -> None:
        for task in [self._task, *self._running]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
