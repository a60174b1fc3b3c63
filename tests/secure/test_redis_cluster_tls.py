"""The store contract suite (tests/store_contract.py) against a Redis Cluster over TLS only
(`scripts/stack cluster up --secure`: TLS on the client ports and the cluster bus, the default
user off), as the `gatekeeper` ACL user configured the way an operator would:
``GATEKEEPER_REDIS=rediss+cluster://gatekeeper@HOST:PORT`` with GATEKEEPER_REDIS_PASSWORD_FILE
and GATEKEEPER_REDIS_CA_FILE. Flushing and reading hashes back is the administrator's."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from services import skip_or_fail
from store_contract import *  # noqa: F403 - the suite's tests are collected here
from store_support import trusted_store

from gatekeeper.counters.contract import StoreContract
from gatekeeper.counters.store import Store
from gatekeeper.errors import StoreUnavailable

VARIABLE = "GK_SECURE_REDIS_CLUSTER"


class TlsClusterBackend:
    def __init__(self, url: str, secure) -> None:  # type: ignore[no-untyped-def]
        self.url = url
        self.secure = secure
        self.stores: list[StoreContract] = []

    async def store(self) -> StoreContract:
        store = await trusted_store(self.url, b"contract")
        self.stores.append(store)
        return store

    def _admin(self) -> redis.RedisCluster:
        where = urlsplit(self.url)
        return redis.RedisCluster(
            host=where.hostname, port=where.port, username="admin",
            password=Path(self.secure.password_file("redis-admin")).read_text().strip(),
            ssl=True, ssl_ca_certs=self.secure.ca_file, decode_responses=True)

    async def flush(self) -> None:
        client = self._admin()
        try:
            client.flushall(target_nodes="primaries")
        finally:
            client.close()

    async def hash(self, key: str) -> dict[str, str]:
        client = self._admin()
        try:
            return dict(client.hgetall(key))  # type: ignore[arg-type]
        finally:
            client.close()


@pytest.fixture
def cluster_url(secure, monkeypatch: pytest.MonkeyPatch) -> str:  # type: ignore[no-untyped-def]
    url = os.environ.get(VARIABLE)
    if not url:
        skip_or_fail(f"{VARIABLE} is not set (scripts/stack cluster up --secure prints it)")
    monkeypatch.setenv("GATEKEEPER_REDIS_PASSWORD_FILE", secure.password_file("redis-gatekeeper"))
    monkeypatch.setenv("GATEKEEPER_REDIS_CA_FILE", secure.ca_file)
    return str(url)


@pytest.fixture
async def backend(cluster_url: str, secure):  # type: ignore[no-untyped-def]
    found = TlsClusterBackend(cluster_url, secure)
    await found.flush()
    yield found
    for store in found.stores:
        await store.close()


async def test_the_tls_cluster_is_a_cluster_of_three_primaries(backend) -> None:
    store = await backend.store()
    assert isinstance(store, Store) and store.cluster
    assert len(store.client.get_primaries()) == 3


async def test_a_plaintext_cluster_url_to_the_tls_ports_is_unavailable_not_a_hang(
        cluster_url: str) -> None:
    store = Store.from_url(cluster_url.replace("rediss+cluster://", "redis+cluster://"),
                           timeout=3.0)
    try:
        with pytest.raises(StoreUnavailable):
            await store.ping()
    finally:
        await store.close()
