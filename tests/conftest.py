"""Shared pytest configuration.

* Everything under tests/integration/ is marked `integration` automatically
  (`pytest -m "not integration"` runs the unit tests alone).
* `stack` (session) checks once that Kafka (GATEKEEPER_BROKER, default kafka://127.0.0.1:9092)
  and Redis (GATEKEEPER_REDIS, default redis://127.0.0.1:6379/0) answer. If they do not, the
  tests that need them are skipped locally, but fail when CI=true. Only tests that request it
  (all of tests/integration/, through an autouse fixture there) depend on it; unit tests never
  touch the network. Start the stack with `scripts/stack up`.
* Per-test isolation: `topic_prefix`, `app_id`, `redis_url` (a dedicated, flushed logical
  database), `create_topics`, `consume`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiokafka.structs import ConsumerRecord

from gatekeeper import brokers

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `import kafka_helpers`

import kafka_helpers  # noqa: E402
from services import skip_or_fail  # noqa: E402

INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"




def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


# --------------------------------------------------------------------------- the stack check
@dataclass(frozen=True)
class Stack:
    broker_url: str  # faust style, e.g. kafka://127.0.0.1:9092
    bootstrap: str  # aiokafka style, e.g. 127.0.0.1:9092
    redis_url: str  # as configured (db 0 usually); tests get their own db via `redis_url`
    redis_databases: int


def _redis_problem(url: str) -> tuple[str | None, int]:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
            try:
                dbs = int(client.config_get("databases").get("databases") or 16)
            except redis.ResponseError:  # CONFIG disabled (managed Redis)
                dbs = 16
            return None, dbs
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001
        return f"Redis at {url} does not answer: {type(exc).__name__}: {exc}", 0


@pytest.fixture(scope="session")
def stack() -> Stack:
    """Kafka + Redis from the environment, verified once per session."""
    broker_url = os.environ.get("GATEKEEPER_BROKER") or kafka_helpers.DEFAULT_BROKER_URL
    redis_url = os.environ.get("GATEKEEPER_REDIS") or DEFAULT_REDIS_URL
    bootstrap = brokers.bootstrap(broker_url)
    problems = []
    kafka_problem = asyncio.run(kafka_helpers.kafka_problem(bootstrap, timeout=5.0))
    if kafka_problem:
        problems.append(kafka_problem)
    redis_problem, dbs = _redis_problem(redis_url)
    if redis_problem:
        problems.append(redis_problem)
    if problems:
        msg = "; ".join(problems) + " (start them with `scripts/stack up`)"
        skip_or_fail(f"integration stack unavailable: {msg}")
    return Stack(broker_url, bootstrap, redis_url, dbs)


# --------------------------------------------------------------------------- isolation
@pytest.fixture
def topic_prefix() -> str:
    """Unique per test, e.g. 't1a2b3c4d.'; prepend to every topic name the test uses."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def app_id() -> str:
    """Unique faust app id / Kafka consumer group per test."""
    return f"gk-test-{uuid.uuid4().hex[:8]}"


_db_cycle: Iterator[int] | None = None


def _next_db(databases: int) -> int:
    """Round-robin over 1..databases-1 (db 0 is left to humans and the demo worker).

    Under pytest-xdist every worker gets a fixed db instead, so workers never share one.
    """
    global _db_cycle
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    usable = max(databases - 1, 1)
    if worker.startswith("gw") and worker[2:].isdigit():
        return 1 + int(worker[2:]) % usable
    if _db_cycle is None:
        _db_cycle = itertools.cycle(range(1, usable + 1))
    return next(_db_cycle)


@pytest.fixture
def redis_url(stack: Stack) -> str:
    """A redis:// URL for a logical database of this test's own, flushed before the test."""
    import redis

    db = _next_db(stack.redis_databases)
    parts = urlsplit(stack.redis_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


@pytest.fixture
async def create_topics(
    stack: Stack, topic_prefix: str, app_id: str
) -> AsyncIterator[Callable[..., Awaitable[list[str]]]]:
    """`await create_topics("a", "b", partitions=1)` creates `<topic_prefix>a`, ... and returns
    the full names. At teardown every topic starting with the test's topic_prefix or app_id
    (faust's internal topics) is deleted, unless GK_TEST_KEEP_TOPICS=1."""

    async def _create(*names: str, partitions: int = 1, **kw: object) -> list[str]:
        full = [n if n.startswith(topic_prefix) else topic_prefix + n for n in names]
        await kafka_helpers.create_topics(stack.bootstrap, full, partitions=partitions, **kw)  # type: ignore[arg-type]
        return full

    yield _create
    if os.environ.get("GK_TEST_KEEP_TOPICS") == "1":
        return
    try:
        topics = await kafka_helpers.list_topics(stack.bootstrap)
        mine = [t for t in topics if t.startswith(topic_prefix) or t.startswith(app_id)]
        await kafka_helpers.delete_topics(stack.bootstrap, mine)
    except Exception:  # noqa: BLE001 - cleanup is best effort
        pass


@pytest.fixture
def consume(stack: Stack) -> Callable[..., Awaitable[list[ConsumerRecord]]]:
    """`await consume(topic, n, timeout=30)` -> the records read from the beginning."""

    async def _consume(topic: str, n: int, **kw: object) -> list[ConsumerRecord]:
        return await kafka_helpers.consume(stack.bootstrap, topic, n, **kw)  # type: ignore[arg-type]

    return _consume
