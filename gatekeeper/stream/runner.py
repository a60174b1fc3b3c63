"""The stream runner: how a batch is carried through its failures, with one callback per kind
of failure. It knows neither faust nor a Kafka client: the shell gives it ``produce`` (send
outputs, wait for every acknowledgement) and the gate's ``Keeper``.

    decode error      a message that is not JSON (or too large): dead letter, logged with
                      topic, partition and offset; the stream goes on
    invalid input     a message that breaks the contract: the same
    store unavailable Redis does not answer: the batch is held and retried (fail closed)
    store lost        Redis lost data: the batch is held while the copy is rebuilt
    broker unavailable a produce failed: the whole batch's outputs are sent again
    refused           Kafka (or Redis) refused the principal (an ACL revoked while running):
                      the batch or the read is held and retried; said in one sentence, once
                      a minute at most
    unexpected        a bug: the batch is held and retried (never acknowledged unchecked)

Each callback has a default that logs and counts a metric; a shell may pass its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from gatekeeper import metrics
from gatekeeper.access_errors import explain
from gatekeeper.errors import InvalidInput, StoreLost, StoreUnavailable, UndecodableInput
from gatekeeper.memory import Keeper
from gatekeeper.stream import refusal_logs
from gatekeeper.stream.routing import Incoming, Outgoing

log = logging.getLogger("gatekeeper.worker")
MAX_BACKOFF = 5.0
Produce = Callable[[Sequence[Outgoing]], Awaitable[None]]
Step = Callable[[], Awaitable[list[Outgoing]]]


def _decode_error(message: Incoming, error: InvalidInput) -> None:
    log.info("undecodable message at %s[%d]@%d: %s", message.topic, message.partition,
             message.offset, error.message)


def _invalid_input(message: Incoming, error: InvalidInput) -> None:
    log.info("invalid message at %s[%d]@%d: %s", message.topic, message.partition,
             message.offset, error.message)


def _store_unavailable(what: str, error: Exception, delay: float) -> None:
    metrics.REDIS_ERRORS.inc()
    log.warning("%s paused: %s; retrying in %.1fs", what, error, delay)


def _store_lost(what: str, error: Exception) -> None:
    log.warning("%s held: %s", what, error)


def _broker_unavailable(error: Exception, delay: float) -> None:
    metrics.KAFKA_ERRORS.inc()
    log.warning("produce failed (%s); retrying in %.1fs", explain(error) or error, delay)


def _refused(what: str, sentence: str) -> None:
    (metrics.KAFKA_ERRORS if sentence.startswith("Kafka") else metrics.REDIS_ERRORS).inc()
    if refusal_logs.due((what, sentence)):
        log.warning("%s held: %s; retried until it is allowed", what, sentence)


def _unexpected(what: str, error: BaseException) -> None:
    log.error("%s failed unexpectedly; the batch is held and retried", what, exc_info=error)


@dataclass(frozen=True, slots=True)
class Failures:
    decode_error: Callable[[Incoming, InvalidInput], None] = _decode_error
    invalid_input: Callable[[Incoming, InvalidInput], None] = _invalid_input
    store_unavailable: Callable[[str, Exception, float], None] = _store_unavailable
    store_lost: Callable[[str, Exception], None] = _store_lost
    broker_unavailable: Callable[[Exception, float], None] = _broker_unavailable
    refused: Callable[[str, str], None] = _refused
    unexpected: Callable[[str, BaseException], None] = _unexpected

    def rejected(self, message: Incoming, error: InvalidInput) -> None:
        """Route a rejected message to its callback (decode error or invalid input)."""
        if isinstance(error, UndecodableInput):
            self.decode_error(message, error)
        else:
            self.invalid_input(message, error)


class Runner:
    def __init__(self, produce: Produce, keeper: Keeper, failures: Failures | None = None):
        self.produce = produce
        self.keeper = keeper
        self.failures = failures or Failures()

    async def until_done(self, step: Step, what: str) -> list[Outgoing]:
        """Run ``step`` until it succeeds; hold (fail closed) meanwhile: nothing is sent or
        acknowledged for the batch until it has been decided from a trusted store."""
        delay = 0.1
        while True:
            try:
                return await step()
            except StoreLost as exc:
                self.failures.store_lost(what, exc)
                try:
                    await self.keeper.ensure()
                    continue  # trusted again (rebuilt): decide again at once
                except StoreUnavailable as again:
                    self.failures.store_unavailable(what, again, delay)
            except StoreUnavailable as exc:
                self.failures.store_unavailable(what, exc, delay)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failure must not ack the batch
                refusal = explain(exc)  # (a Kafka or Redis refusal: an ACL taken away)
                if refusal is None:
                    self.failures.unexpected(what, exc)
                else:
                    self.failures.refused(what, refusal)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def deliver(self, outputs: Sequence[Outgoing]) -> None:
        """Produce every output and wait for every acknowledgement; send the lot again while
        Kafka fails (consumers de-duplicate by request id and decision id)."""
        delay = 0.1
        while True:
            try:
                await self.produce(outputs)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any produce failure pauses the stream
                self.failures.broker_unavailable(exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
