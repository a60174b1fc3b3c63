"""``gatekeeper restore``: rebuild the Redis working copy from the Kafka record, by hand."""

from __future__ import annotations

from typing import Any

from gatekeeper.memory import Progress
from gatekeeper.settings import Settings
from gatekeeper.wiring import build_core


async def run_restore(settings: Settings, progress: Progress) -> dict[str, Any]:
    core = build_core(settings)
    core.keeper.progress = progress
    store = core.store
    try:
        await store.ping()
        await store.load_scripts()
        progress(f"rebuilding {settings.redis.split('@')[-1]} from "
                 f"{settings.topics['events']}, {settings.topics['decisions']} and "
                 f"{settings.topics['outcomes']} (workers hold meanwhile)")
        await core.keeper.ensure(force=True)
        return core.keeper.last_stats
    finally:
        await store.close()
