"""Create the gatekeeper's topics when they are missing (faust ignores missing ones), with
the retention the record needs, and refuse to run on topics that would forget.

Kafka holds the record the Redis working copy is rebuilt from: ``debtor.events`` is kept
forever (an opt-out from years ago binds), ``contact.decisions`` and ``contact.outcomes``
for the record retention (at least the longest policy window and the decision TTL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from gatekeeper.brokers import bootstrap
from gatekeeper.errors import GatekeeperError
from gatekeeper.kafka_security import kafka_options
from gatekeeper.settings import Settings

DAY_MS = 86_400_000


class TopicRetentionError(GatekeeperError):
    """A topic of the record keeps its messages for less time than the gate needs."""


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """The configs each topic of the record is created with (others get the broker's)."""
    record = str(settings.record_retention_days * DAY_MS)
    return {"events": {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"},
            "decisions": {"retention.ms": record, "retention.bytes": "-1"},
            "outcomes": {"retention.ms": record, "retention.bytes": "-1"},
            "audit": {"retention.ms": "-1", "retention.bytes": "-1"},
            "deferred": {"retention.ms": record, "retention.bytes": "-1"}}


def retention_problems(settings: Settings, found: dict[str, dict[str, str]],
                       needed_days: int) -> list[str]:
    """PURE: what is wrong with the record topics' configs (``found``: topic kind -> config)."""
    problems = []
    for kind, minimum in (("events", None), ("decisions", needed_days),
                          ("outcomes", needed_days)):
        config = found.get(kind, {})
        name = settings.topics[kind]
        retention = int(config.get("retention.ms", "-1"))
        size = int(config.get("retention.bytes", "-1"))
        if "compact" in config.get("cleanup.policy", "delete"):
            problems.append(f"{name}: cleanup.policy={config['cleanup.policy']} would drop "
                            "messages of the record; use delete")
        if size >= 0:
            problems.append(f"{name}: retention.bytes={size} would drop old messages; use -1")
        if minimum is None and retention >= 0:
            problems.append(f"{name}: retention.ms={retention} ({retention / DAY_MS:.1f} days); "
                            "debtor events must be kept forever (retention.ms=-1)")
        elif minimum is not None and 0 <= retention < minimum * DAY_MS:
            problems.append(f"{name}: retention.ms={retention} ({retention / DAY_MS:.1f} days); "
                            f"the loaded policy needs at least {minimum} days")
    return problems

log = logging.getLogger(__name__)


async def ensure_topics(settings: Settings, *, timeout: float = 60.0) -> list[str]:
    """Create missing topics with as many partitions as the requests topic (co-partitioned by
    debtor), or ``settings.partitions``; return those created.
    Retries while the broker is unreachable, up to ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(settings.broker),
                                    request_timeout_ms=10000, **kafka_options())
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in settings.topics.values() if t not in existing]
            partitions = settings.partitions
            if missing and settings.topics["requests"] in existing:  # co-partitioned with it
                (described,) = await admin.describe_topics([settings.topics["requests"]])
                partitions = len(described.get("partitions") or ()) or partitions
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):  # a race with another worker
                    configs = {settings.topics[kind]: c
                               for kind, c in topic_configs(settings).items()}
                    await admin.create_topics([NewTopic(t, partitions, 1,
                                                        topic_configs=configs.get(t, {}))
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


async def check_retention(settings: Settings, needed_days: int) -> None:
    """Raise ``TopicRetentionError`` naming every record topic whose retention is too short."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(settings.broker),
                                request_timeout_ms=10000, **kafka_options())
    await admin.start()
    try:
        kinds = list(topic_configs(settings))
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, settings.topics[k]) for k in kinds])
    finally:
        await admin.close()
    found: dict[str, dict[str, str]] = {}
    by_name = {settings.topics[k]: k for k in kinds}
    for answer in answers:
        for error, _message, _type, name, entries in answer.resources:
            if error == 0 and name in by_name:
                found[by_name[name]] = {entry[0]: entry[1] for entry in entries}
    problems = retention_problems(settings, found, needed_days)
    if problems:
        raise TopicRetentionError(
            "the Kafka record would forget what binds the gate; fix the topic configs "
            "(kafka-configs --alter --entity-type topics ...) and start again:\n  "
            + "\n  ".join(problems))


async def partitions_of(broker: str, names: list[str]) -> dict[str, list[int]]:
    """The partition numbers of each topic that exists (a missing topic is left out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(broker), request_timeout_ms=10000,
                                **kafka_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        present = [n for n in names if n in existing]
        described = await admin.describe_topics(present) if present else []
    finally:
        await admin.close()
    return {t["topic"]: sorted(p["partition"] for p in t.get("partitions") or ())
            for t in described if t.get("error_code", 0) == 0}
