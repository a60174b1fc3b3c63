"""The gate's memory: hold until the working copy in Redis is trusted; rebuild it when lost.

Every shell (the worker, ``gatekeeper restore``, the HTTP API) owns one ``Keeper``. Whenever
the store raises ``StoreLost`` (a marker gone, a node's run id changed) the shell calls
``Keeper.ensure()`` before it retries: it verifies the copy (``counters/guard.py``); when the
copy is not trusted, one worker (the holder of the rebuild lock) rebuilds it from Kafka while
every other one holds; then all of them adopt the new epoch and carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gatekeeper import metrics
from gatekeeper.counters import guard
from gatekeeper.counters.contract import StoreContract as Store

log = logging.getLogger("gatekeeper.memory")

Progress = Callable[[str], None]
Rebuild = Callable[[Progress], Awaitable[dict[str, Any]]]


class Keeper:
    def __init__(self, store: Store, hashing_key: bytes, rebuild: Rebuild, *,
                 started_at: float | None = None, hold_seconds: float = 1.0,
                 progress: Progress | None = None):
        self.store = store
        self.key_id = guard.key_id(hashing_key)
        self.rebuild = rebuild
        self.started_at = time.time() if started_at is None else started_at
        self.hold_seconds = hold_seconds
        self.progress = progress or (lambda text: log.info("rebuild: %s", text))
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.ready = False
        self.rebuilding = False
        self.last_stats: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    async def ensure(self, *, force: bool = False) -> None:
        """Return once the store is trusted, rebuilding it if this worker may. ``force``
        rebuilds even a trusted copy (``gatekeeper restore``). Raises ``StoreUnavailable``
        while Redis does not answer (the caller retries)."""
        async with self._lock:
            if self.store.epoch is not None and not force:
                return  # another task of this process verified it meanwhile
            self._set_ready(False)
            held_since = time.monotonic()
            while True:
                verdict = guard.Verdict(False, "a rebuild was asked for") if force else \
                    await guard.verify(self.store, self.key_id, self.started_at)
                if verdict.trusted:
                    self._set_ready(True)
                    return
                if not verdict.rebuild:
                    self._hold(verdict.reason, held_since)
                    await asyncio.sleep(self.hold_seconds)
                    continue
                if not await guard.acquire_lock(self.store, self.owner):
                    self._hold("another worker is rebuilding the store", held_since)
                    await asyncio.sleep(self.hold_seconds)
                    continue
                try:
                    if not force:  # under the lock: someone may have rebuilt it just now
                        verdict = await guard.verify(self.store, self.key_id, self.started_at)
                        if verdict.trusted:
                            self._set_ready(True)
                            return
                    await self._rebuild(verdict.reason)
                    self._set_ready(True)
                    return
                finally:
                    with contextlib.suppress(Exception):
                        await guard.release_lock(self.store, self.owner)

    async def _rebuild(self, reason: str) -> None:
        log.warning("the store cannot be trusted (%s): holding, rebuilding from Kafka", reason)
        metrics.REBUILDS.inc()
        self.rebuilding = True
        started = time.monotonic()
        refresher = asyncio.create_task(self._keep_lock())
        try:
            epoch = await guard.begin_rebuild(self.store)
            stats = await self.rebuild(self.progress)
            stats["seconds"] = round(time.monotonic() - started, 1)
            await guard.finish_rebuild(self.store, epoch, self.key_id, stats)
            self.last_stats = stats
            log.warning("store rebuilt in %.1fs: %s", stats["seconds"], stats)
        except BaseException:
            guard.abandon_rebuild(self.store)
            raise
        finally:
            self.rebuilding = False
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await refresher

    async def _keep_lock(self) -> None:
        while True:
            await asyncio.sleep(guard.LOCK_SECONDS / 3)
            with contextlib.suppress(Exception):
                await guard.refresh_lock(self.store, self.owner)

    def _hold(self, reason: str, since: float) -> None:
        waited = time.monotonic() - since
        if waited < self.hold_seconds * 1.5 or int(waited) % 10 == 0:
            log.warning("holding (nothing is decided): %s", reason)

    def _set_ready(self, ready: bool) -> None:
        self.ready = ready
        metrics.STORE_READY.set(1 if ready else 0)


async def initialize_empty(store: Store, hashing_key: bytes, *, purpose: str) -> None:
    """Start a new, empty working copy where no history exists (``simulate``, tests, a
    benchmark's private database). Never use it on a store that has a record behind it."""
    epoch = await guard.begin_rebuild(store)
    await guard.finish_rebuild(store, epoch, guard.key_id(hashing_key), {"purpose": purpose})
