"""The store contract suite (tests/store_contract.py) against the real redis-server (and,
in test_store_cluster.py, against a Redis Cluster)."""

from __future__ import annotations

import pytest
import redis
from store_contract import *  # noqa: F403 - the suite's tests are collected here
from store_support import trusted_store

from gatekeeper.counters.contract import StoreContract


class RedisBackend:
    def __init__(self, url: str) -> None:
        self.url = url
        self.stores: list[StoreContract] = []

    async def store(self) -> StoreContract:
        store = await trusted_store(self.url, b"contract")
        self.stores.append(store)
        return store

    def _client(self) -> redis.Redis:
        if self.url.startswith("redis+cluster://"):
            from redis.cluster import RedisCluster

            return RedisCluster.from_url(  # type: ignore[return-value]
                "redis://" + self.url.removeprefix("redis+cluster://"), decode_responses=True)
        return redis.Redis.from_url(self.url, decode_responses=True)

    async def flush(self) -> None:
        client = self._client()
        if self.url.startswith("redis+cluster://"):
            client.flushall(target_nodes="primaries")  # type: ignore[call-arg]
        else:
            client.flushdb()
        client.close()

    async def hash(self, key: str) -> dict[str, str]:
        client = self._client()
        try:
            return dict(client.hgetall(key))  # type: ignore[arg-type]
        finally:
            client.close()


@pytest.fixture
async def backend(redis_url: str):  # type: ignore[no-untyped-def]
    found = RedisBackend(redis_url)
    yield found
    for store in found.stores:
        await store.close()
