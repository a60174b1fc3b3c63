"""A Kafka refusal met by faust's own consumer is held, not a crash.

faust reads the worker's agents' topics (debtor.events, contact.outcomes...) with a consumer
thread of its own; when Kafka refuses a read or an offset commit (an ACL revoked while the
worker runs), faust logs tracebacks and stops the whole worker. Here such a read is held
instead: said in one sentence naming the principal and the topic (``Failures.refused``: once
a minute at most), retried every second, and read again from where it stood once Kafka
allows it. Nothing is skipped: a fetch that fails returns nothing and leaves the consumer's
position as it was; a refused commit is not done (faust commits again later, and a restart
reads again from the last commit: applying an event twice changes nothing).

It is fail closed: the requests loop's events catch-up reads ``debtor.events`` itself before
each batch, so a batch is held while the events are refused (its own refusal is said by
the runner), never decided without them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka.structs import OffsetAndMetadata
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, ensure_aiokafka_TP

from gatekeeper.access_errors import explain
from gatekeeper.stream import refusal_logs
from gatekeeper.stream.runner import Failures

log = logging.getLogger("gatekeeper.worker")
WHAT = "reading the agents' topics"
RETRY = 1.0  # seconds between two reads while refused
_original = AIOKafkaConsumerThread._fetch_records  # noqa: SLF001 - faust's two seams: the
_original_commit = AIOKafkaConsumerThread._commit  # noqa: SLF001 - fetch and the commit


class _State:
    refused = False
    failures = Failures()


async def _fetch_records(self: Any, consumer: Any, active_partitions: Any,
                         timeout: float | None = None, max_records: int | None = None) -> Any:
    try:
        records = await _original(self, consumer, active_partitions, timeout=timeout,
                                  max_records=max_records)
    except Exception as exc:
        refusal = explain(exc)
        if refusal is None:
            raise
        _State.failures.refused(WHAT, refusal)
        _State.refused = True
        await asyncio.sleep(RETRY)
        return {}
    if _State.refused:
        _State.refused = False
        log.warning("%s resumed: Kafka allows it again", WHAT)
    return records


async def _commit(self: Any, offsets: Any) -> bool:
    """faust's ``_commit``, but a refusal is said and left for the next commit; any other
    failure goes to faust's own ``_commit`` (which commits once more and handles it)."""
    consumer = self._ensure_consumer()
    committable = {tp: offset for tp, offset in offsets.items() if tp in self.assignment()}
    try:
        await consumer.commit({ensure_aiokafka_TP(tp): OffsetAndMetadata(offset, "")
                               for tp, offset in committable.items()})
    except Exception as exc:  # noqa: BLE001 - what is not a refusal is faust's to handle
        refusal = explain(exc)
        if refusal is None:
            return bool(await _original_commit(self, offsets))
        _State.failures.refused("committing the agents' offsets", refusal)
        return False
    now = time.monotonic()  # (faust's clock for it)
    self.tp_last_committed_at.update({tp: now for tp in committable})
    return True


def install(failures: Failures | None = None) -> None:
    """Hold refused reads and commits in every faust consumer of this process
    (idempotent)."""
    if failures is not None:
        _State.failures = failures
    refusal_logs.install()
    AIOKafkaConsumerThread._fetch_records = _fetch_records  # type: ignore[method-assign]  # noqa: SLF001
    AIOKafkaConsumerThread._commit = _commit  # type: ignore[method-assign]  # noqa: SLF001
