"""``gatekeeper restore``: rebuild the Redis working copy from the Kafka record, by hand."""

from __future__ import annotations

from functools import partial
from typing import Any

from gatekeeper import restore
from gatekeeper.counters.keys import Hasher
from gatekeeper.counters.store import Store
from gatekeeper.gate import Gate, Ttls
from gatekeeper.memory import Keeper, Progress
from gatekeeper.policy import load_policy
from gatekeeper.settings import Settings


async def run_restore(settings: Settings, progress: Progress) -> dict[str, Any]:
    policy = load_policy(settings.policy)
    store = Store.from_url(settings.redis)
    try:
        await store.ping()
        await store.load_scripts()
        gate = Gate(policy, store, Hasher(settings.hashing_key),
                    Ttls(decision_seconds=settings.decision_ttl_days * 86400))
        keeper = Keeper(store, settings.hashing_key, partial(restore.rebuild, settings, gate),
                        progress=progress)
        progress(f"rebuilding {settings.redis.split('@')[-1]} from "
                 f"{settings.topics['events']}, {settings.topics['decisions']} and "
                 f"{settings.topics['outcomes']} (workers hold meanwhile)")
        await keeper.ensure(force=True)
        return keeper.last_stats
    finally:
        await store.close()
