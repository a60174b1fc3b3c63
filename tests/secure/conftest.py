"""Tests on the secure stack (`scripts/stack up --secure`; `make test-secure` starts it, runs
them and stops it).

They run when GK_SECURE_DIR names the secure stack's directory (`scripts/stack env --secure`
prints it, with GATEKEEPER_BROKER and the `gatekeeper` principal's variables); without it they
are skipped (a plain `pytest tests`); `make test` leaves them out (`-m 'not secure'`). The
test process itself (creating topics, producing requests, reading the outputs) is the stack's
administrator; a worker under test is the `gatekeeper` principal, with the ACLs of
gatekeeper/kafka_acls.py granted for the test's own topic prefix and app id (``granted``), and
the Redis ACL user `gatekeeper`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from services import skip_or_fail

from gatekeeper import brokers
from gatekeeper.kafka_acls import acls, grant
from gatekeeper.kafka_security import KafkaSecurity

HERE = Path(__file__).resolve().parent
DIR_VARIABLE = "GK_SECURE_DIR"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason=f"{DIR_VARIABLE} is not set: the secure stack's tests run "
                                   "with `make test-secure`")
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.secure)
            if not os.environ.get(DIR_VARIABLE):
                item.add_marker(skip)


@dataclass(frozen=True)
class Secure:
    """The secure stack as `scripts/stack env --secure` describes it."""

    dir: Path
    broker_url: str
    redis_host: str
    redis_port: int

    @property
    def bootstrap(self) -> str:
        return brokers.bootstrap(self.broker_url)

    @property
    def ca_file(self) -> str:
        return str(self.dir / "tls" / "ca.pem")

    def password_file(self, name: str) -> str:
        return str(self.dir / "secrets" / f"{name}.password")

    def kafka(self, user: str, password: str | None = None) -> KafkaSecurity:
        """A principal's client security (``password``: a wrong one, for a test)."""
        if password is None:
            password = Path(self.password_file(f"kafka-{user}")).read_text().strip()
        return KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", user, password, self.ca_file)

    def kafka_env(self, user: str) -> dict[str, str]:
        return {"GATEKEEPER_BROKER": self.broker_url,
                "GATEKEEPER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "GATEKEEPER_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "GATEKEEPER_KAFKA_USERNAME": user,
                "GATEKEEPER_KAFKA_PASSWORD_FILE": self.password_file(f"kafka-{user}"),
                "GATEKEEPER_KAFKA_PASSWORD": "",
                "GATEKEEPER_KAFKA_CA_FILE": self.ca_file}

    def redis_url(self, user: str, db: int = 0) -> str:
        """A rediss:// URL of ``user`` with its password and the CA: what a test's own redis-py
        client needs (the worker reads the same URL)."""
        password = Path(self.password_file(f"redis-{user}")).read_text().strip()
        return (f"rediss://{user}:{password}@{self.redis_host}:{self.redis_port}/{db}"
                f"?ssl_ca_certs={self.ca_file}")


@pytest.fixture(scope="session")
def secure() -> Iterator[Secure]:
    """The secure stack; the test process is its administrator while the session runs."""
    where = os.environ.get(DIR_VARIABLE, "")
    redis = urlsplit(os.environ.get("GATEKEEPER_REDIS", ""))
    found = Secure(Path(where), os.environ.get("GATEKEEPER_BROKER", ""),
                   redis.hostname or "127.0.0.1", redis.port or 6380)
    saved = dict(os.environ)
    os.environ.update(found.kafka_env("admin"))
    del os.environ["GATEKEEPER_KAFKA_PASSWORD"]
    for name in ("GATEKEEPER_REDIS_PASSWORD_FILE", "GATEKEEPER_REDIS_PASSWORD"):
        os.environ.pop(name, None)
    try:
        yield found
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def stack(secure: Secure) -> object:
    """The shared fixtures' view of the stack (create_topics, consume): as administrator."""
    import kafka_helpers

    problem = asyncio.run(kafka_helpers.kafka_problem(secure.bootstrap, timeout=10.0))
    if problem:
        skip_or_fail(f"secure stack unavailable: {problem} (scripts/stack up --secure)")
    # the fields of tests/conftest.py's Stack (not imported: two modules named conftest)
    return SimpleNamespace(broker_url=secure.broker_url, bootstrap=secure.bootstrap,
                           redis_url=secure.redis_url("admin"), redis_databases=16)


@pytest.fixture
def broker_url(secure: Secure) -> str:
    return secure.broker_url


@pytest.fixture
def bootstrap(secure: Secure) -> str:
    return secure.bootstrap


_dbs = itertools.cycle(range(1, 16))


@pytest.fixture
def redis_url(secure: Secure) -> str:
    """The `gatekeeper` user's URL for a database of this test's own (flushed by admin)."""
    import redis

    db = next(_dbs)
    client = redis.Redis.from_url(secure.redis_url("admin", db))
    try:
        client.flushdb()
    finally:
        client.close()
    return secure.redis_url("gatekeeper", db)


@pytest.fixture
async def granted(secure: Secure, topic_prefix: str, app_id: str) -> None:
    """The ACL table for this test's topic prefix and app id."""
    await grant(secure.bootstrap, acls(topic_prefix, app_id), **secure.kafka("admin").aiokafka())
