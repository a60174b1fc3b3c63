"""Create the gatekeeper's topics when they are missing (faust ignores missing ones)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from gatekeeper.brokers import bootstrap
from gatekeeper.settings import Settings

log = logging.getLogger(__name__)


async def ensure_topics(settings: Settings, *, timeout: float = 60.0) -> list[str]:
    """Create missing topics with ``settings.partitions`` partitions; return those created.
    Retries while the broker is unreachable, up to ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(settings.broker),
                                    request_timeout_ms=10000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in settings.topics.values() if t not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):  # a race with another worker
                    await admin.create_topics([NewTopic(t, settings.partitions, 1)
                                               for t in missing])
                log.info("created topics: %s", ", ".join(missing))
            await _wait_leaders(admin, list(settings.topics.values()), deadline)
            return missing
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("cannot reach Kafka to check topics (%s); retrying", exc)
            await asyncio.sleep(1.0)
        finally:
            await admin.close()


async def _wait_leaders(admin: AIOKafkaAdminClient, topics: list[str], deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        described = await admin.describe_topics(topics)
        if all(t.get("error_code", 0) == 0 and t.get("partitions") and
               all(p.get("leader", -1) >= 0 for p in t["partitions"]) for t in described):
            return
        await asyncio.sleep(0.2)
