"""What a running console holds: the index and its feeder, the accounts, a Kafka producer
(audit records, releases), and the gate's store (releases, the debtor page's counters).

``Runtime.start`` / ``stop`` are the application's startup and cleanup. Kafka or Redis being
away does not stop the pages: the index serves what it has, the audit records wait in their
outbox, and a release answers that the gate cannot decide now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiokafka import AIOKafkaProducer

from gatekeeper import restore
from gatekeeper.access_errors import explain
from gatekeeper.brokers import bootstrap
from gatekeeper.console import audit_topic
from gatekeeper.console import release as releasing
from gatekeeper.console.accounts import Accounts
from gatekeeper.console.config import ConsoleSettings
from gatekeeper.console.index.consumer import IndexFeeder
from gatekeeper.console.index.sqlite import SqliteIndex
from gatekeeper.counters.keys import Hasher
from gatekeeper.counters.store import Store
from gatekeeper.errors import StoreLost, StoreUnavailable
from gatekeeper.gate import Gate, Ttls
from gatekeeper.kafka_security import kafka_options
from gatekeeper.memory import Keeper
from gatekeeper.policy import load_policy
from gatekeeper.policy.model import Policy
from gatekeeper.settings import Settings

log = logging.getLogger("gatekeeper.console")


class Unavailable(Exception):
    """The gate cannot decide now (Redis away or being rebuilt; Kafka away)."""


@dataclass
class Runtime:
    settings: Settings
    console: ConsoleSettings
    policy: Policy
    index: SqliteIndex
    accounts: Accounts
    feed: bool = True  # consume the topics into the index
    feeder: IndexFeeder | None = None
    producer: AIOKafkaProducer | None = None
    store: Store | None = None
    keeper: Keeper | None = None
    audit_wake: asyncio.Event = field(default_factory=asyncio.Event)
    _releasing: asyncio.Lock = field(default_factory=asyncio.Lock)
    _released: set[str] = field(default_factory=set)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, console: ConsoleSettings, *, feed: bool = True
              ) -> Runtime:
        return cls(settings, console, load_policy(settings.policy),
                   SqliteIndex(console.index_path), Accounts(console.accounts_path, console),
                   feed=feed)

    async def start(self) -> None:
        topics = dict(self.settings.topics)
        if self.feed:
            self.feeder = IndexFeeder(self.index, self.settings.broker, topics,
                                      retention_days=self.console.retention_days)
            self.tasks.append(asyncio.create_task(self.feeder.run(), name="console-index"))
        self.tasks.append(asyncio.create_task(self._kafka(), name="console-kafka"))
        self.store = Store.from_url(self.settings.redis)
        self.keeper = Keeper(self.store, self.settings.hashing_key,
                             partial(restore.rebuild, self.settings, self._gate()))

    async def _kafka(self) -> None:
        """Connect the producer (retrying while Kafka is away), then ship the audit chain."""
        while self.producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap(self.settings.broker),
                                        acks="all", enable_idempotence=True, **kafka_options())
            try:
                await producer.start()
                await audit_topic.ensure_topic(self.settings.broker,
                                               self.settings.topics["audit"])
                self.producer = producer
            except Exception as exc:  # noqa: BLE001 - Kafka comes back
                log.warning("console: Kafka not reachable (%s); retrying",
                            explain(exc) or exc)
                with contextlib.suppress(Exception):
                    await producer.stop()
                await asyncio.sleep(5)
        await audit_topic.ship(self.accounts, self.producer, self.settings.topics["audit"],
                               self.audit_wake)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()
        if self.store is not None:
            with contextlib.suppress(Exception):
                await self.store.close()
        if self.feeder is not None:
            self.feeder.close()
        self.index.close()
        self.accounts.close()

    def _gate(self) -> Gate:
        assert self.store is not None
        return Gate(self.policy, self.store, Hasher(self.settings.hashing_key), self._ttls())

    def _ttls(self) -> Ttls:
        return Ttls(decision_seconds=self.settings.decision_ttl_days * 86400)

    def audit(self, actor: str, action: str, details: dict[str, Any]) -> dict[str, Any]:
        record = self.accounts.record(actor, action, details)
        self.audit_wake.set()
        return record

    async def release(self, body: dict[str, Any], *, actor: str, reason: str
                      ) -> releasing.Outcome:
        """Decide a release and send its messages; ``ValueError`` when it may not be
        released, ``Unavailable`` when the gate cannot decide now."""
        if self.producer is None or self.store is None or self.keeper is None:
            raise Unavailable("Kafka is not reachable from the console yet")
        if not self.settings.signing_keys:
            raise Unavailable("GATEKEEPER_SIGNING_KEY is not set: a released request must be "
                              "signed like the worker signs")
        if not self.settings.hash_key:
            raise Unavailable("GATEKEEPER_HASH_KEY is not set: a release is counted under the "
                              "workers' keyed hashes, so the console needs their key")
        request_id = str(body["request"]["request_id"])
        async with self._releasing:  # one at a time: a double click releases once
            if request_id in self._released or await asyncio.get_running_loop(
                    ).run_in_executor(None, self._released_in_index, request_id):
                raise ValueError("released already")
            outcome = await self._release(body, actor=actor, reason=reason)
            if outcome.decision["decision"] == "allowed":
                self._released.add(request_id)
            return outcome

    def _released_in_index(self, request_id: str) -> bool:
        return any(v.decision == "allowed"
                   for v in self.index.decisions(releasing.release_id(request_id)))

    async def _release(self, body: dict[str, Any], *, actor: str, reason: str
                       ) -> releasing.Outcome:
        assert self.store is not None and self.keeper is not None and self.producer
        try:
            if self.store.epoch is None:
                await self.store.load_scripts()
                await asyncio.wait_for(self.keeper.ensure(), 10)
            outcome = await releasing.decide_release(
                self.policy, self.store, Hasher(self.settings.hashing_key), self._ttls(), body,
                actor=actor, reason=reason, now=datetime.now(UTC),
                signing_key=self.settings.signing_keys[0])
        except (StoreLost, StoreUnavailable, TimeoutError) as exc:
            if isinstance(exc, StoreLost):
                self.store.epoch = None
            raise Unavailable(f"the gate's store cannot be used now ({exc}); nothing was "
                              "released") from exc
        sent = [await self.producer.send(self.settings.topics[o.kind], o.value, key=o.key,
                                         headers=list(o.headers)) for o in outcome.outputs]
        await asyncio.gather(*sent)
        return outcome
