"""The command line end to end against a private, throw-away redis-server (started once per
session on a free loopback port, flushed for each test). No Kafka: the commands that need
it are covered in tests/integration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from services import skip_or_fail

from gatekeeper.errors import StoreUnavailable
from gatekeeper.redis_server import PrivateRedis


@pytest.fixture(scope="session")
def _private_redis() -> Iterator[PrivateRedis]:
    try:
        server = PrivateRedis()
    except StoreUnavailable as exc:
        skip_or_fail(str(exc))
    with server:
        yield server


@pytest.fixture
def private_redis_url(_private_redis: PrivateRedis) -> str:
    import redis

    redis.Redis.from_url(_private_redis.url).flushall()
    return _private_redis.url
