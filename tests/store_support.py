"""A store ready for tests that drive the gate directly (no Kafka behind them)."""

from __future__ import annotations

from gatekeeper.counters import guard
from gatekeeper.counters.store import Store
from gatekeeper.memory import initialize_empty

TEST_HASH_KEY = b"store-test"


async def trusted_store(url: str, hashing_key: bytes = TEST_HASH_KEY) -> Store:
    """A Store on ``url`` whose working copy is trusted: the one already there (verified as a
    worker verifies it), or, in a test's empty database, a new empty one."""
    store = Store.from_url(url)
    verdict = await guard.verify(store, guard.key_id(hashing_key), started_at=0.0)
    if not verdict.trusted:
        await initialize_empty(store, hashing_key, purpose="test")
    return store
