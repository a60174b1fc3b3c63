"""While a rebuild runs, only the rebuilding task writes (into the new epoch); every other
task of the process holds until the meta hash is written (counters/guard.py, the in-memory
store: the same code path as Redis's ``Store.run``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gatekeeper.counters import guard, wire
from gatekeeper.counters.memory_store import MemoryStore
from gatekeeper.errors import StoreLost
from gatekeeper.memory import initialize_empty

KEY = b"hold-test"


def event_call() -> wire.Call:
    return wire.state_call("d", datetime(2026, 3, 1, tzinfo=UTC), [("f:cease", "1")],
                           state_ttl=60)


async def test_other_tasks_hold_until_the_rebuilt_copy_is_trusted() -> None:
    store = MemoryStore()
    await initialize_empty(store, KEY, purpose="test")
    await store.run([event_call()])  # trusted: any task writes
    started, finish = asyncio.Event(), asyncio.Event()

    async def rebuilder() -> None:
        epoch = await guard.begin_rebuild(store)
        await store.run([event_call()])  # the rebuild's own writes go through
        started.set()
        await finish.wait()
        await guard.finish_rebuild(store, epoch, guard.key_id(KEY), {})

    task = asyncio.create_task(rebuilder())
    await started.wait()
    with pytest.raises(StoreLost):  # e.g. a batch retried after a Redis outage
        await store.run([event_call()])
    finish.set()
    await task
    assert await store.run([event_call()])  # trusted again, for every task


async def test_a_failed_rebuild_leaves_nothing_writing() -> None:
    store = MemoryStore()
    await initialize_empty(store, KEY, purpose="test")

    async def failing() -> None:
        await guard.begin_rebuild(store)
        guard.abandon_rebuild(store)
        with pytest.raises(StoreLost):
            await store.run([event_call()])

    await asyncio.create_task(failing())
    with pytest.raises(StoreLost):
        await store.run([event_call()])
