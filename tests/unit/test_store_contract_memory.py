"""The store contract suite (tests/store_contract.py) against the in-memory store."""

from __future__ import annotations

import pytest
from store_contract import *  # noqa: F403 - the suite's tests are collected here

from gatekeeper.counters import guard
from gatekeeper.counters.contract import StoreContract
from gatekeeper.counters.memory_store import MemoryStore
from gatekeeper.memory import initialize_empty


class MemoryBackend:
    def __init__(self) -> None:
        self.memory = MemoryStore()

    async def store(self) -> StoreContract:
        verdict = await guard.verify(self.memory, guard.key_id(b"contract"), started_at=0.0)
        if not verdict.trusted:
            await initialize_empty(self.memory, b"contract", purpose="test")
        return self.memory

    async def flush(self) -> None:
        self.memory.flush()

    async def hash(self, key: str) -> dict[str, str]:
        return dict((await self.memory.read([("HGETALL", key)]))[0])


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()
