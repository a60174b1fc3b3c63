"""One batch of raw messages -> outputs, in input order. Independent of faust.

Every request read yields exactly one output: allowed, review or invalid; every decision
is also recorded on contact.decisions (the record a lost Redis is rebuilt from). Store
outages propagate as ``StoreUnavailable`` (nothing is emitted for the batch; the caller
retries).
``now`` is the gate's clock for the batch: decisions are made at it, and messages whose own
time is not sane against it are invalid (``timebounds``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from gatekeeper.deferral import messages as deferral_messages
from gatekeeper.deferral.schedule import Parked, Schedule
from gatekeeper.errors import InvalidInput
from gatekeeper.gate import Gate
from gatekeeper.model import ContactRequest
from gatekeeper.stream import routing
from gatekeeper.stream.routing import Incoming, Outgoing
from gatekeeper.timebounds import (
    DEFAULT_BOUNDS,
    TimeBounds,
    admit_event,
    admit_outcome,
    check_request,
)
from gatekeeper.validate import parse_event, parse_outcome, parse_request

log = logging.getLogger(__name__)
T = TypeVar("T")
Rejected = Callable[[Incoming, InvalidInput], None]  # told of every dead-lettered message


def log_rejected(message: Incoming, error: InvalidInput) -> None:
    log.info("invalid message at %s[%d]@%d: %s", message.topic, message.partition,
             message.offset, error.message)


async def process_requests(gate: Gate, batch: Sequence[Incoming], now: datetime,
                           signing_key: bytes | None, bounds: TimeBounds = DEFAULT_BOUNDS,
                           rejected: Rejected = log_rejected,
                           before_decide: Callable[[], Awaitable[object]] | None = None,
                           deferral: Schedule | None = None) -> list[Outgoing]:
    """``before_decide`` runs once the batch is parsed and checked, before the gate decides
    (the worker applies the acknowledged events there). With ``deferral``, a request with
    ``on_block: defer`` blocked until a time is parked (``gatekeeper/deferral/``), and
    cancels are applied."""
    outputs: list[Outgoing | None] = [None] * len(batch)
    valid: list[tuple[int, ContactRequest]] = []
    parked: list[tuple[int, Parked]] = []
    cancels: list[tuple[int, tuple[Incoming, str, str]]] = []
    for i, message in enumerate(batch):
        cancel = deferral.cancel_of(message) if deferral is not None else None
        if isinstance(cancel, InvalidInput):
            rejected(message, cancel)
            outputs[i] = routing.invalid(message, cancel)
            continue
        if cancel is not None:
            cancels.append((i, (message, *cancel)))
            continue
        try:
            request = parse_request(message.value)  # type: ignore[arg-type]
            check_request(request, now, bounds)
            valid.append((i, request))
        except InvalidInput as error:
            rejected(message, error)
            outputs[i] = routing.invalid(message, error)
    if before_decide is not None:
        await before_decide()
    results = await gate.decide_recorded([r for _, r in valid], now)
    records: list[Outgoing] = []
    for (i, request), (result, stored) in zip(valid, results, strict=True):
        message = batch[i]
        if isinstance(result, InvalidInput):
            rejected(message, result)
            outputs[i] = routing.invalid(message, result)
            continue
        until = deferral.until(request, result, now) if deferral is not None else None
        if result["decision"] == "allowed":
            outputs[i] = routing.allowed(message, result, signing_key)
        elif until is not None:
            parked.append((i, Parked(message, request, result, until)))
            records.append(deferral_messages.parking_record(message, request.raw, result,
                                                            stored, until))
            continue
        else:
            outputs[i] = routing.review(message, request.raw, result)
        records.append(routing.record(message, request.raw, result, stored))
    if deferral is not None and parked:  # parked before announced
        for (i, _), out in zip(parked, await deferral.park([p for _, p in parked]),
                               strict=True):
            outputs[i] = out
    if deferral is not None and cancels:
        for (i, _), out in zip(cancels, await deferral.cancel([c for _, c in cancels], now),
                               strict=True):
            outputs[i] = out
    return [o for o in outputs if o is not None] + records


async def process_events(gate: Gate, batch: Sequence[Incoming], now: datetime,
                         bounds: TimeBounds = DEFAULT_BOUNDS,
                         rejected: Rejected = log_rejected) -> list[Outgoing]:
    """Apply debtor events, each at its own time but no later than ``now``; invalid ones
    are returned for the dead-letter topic."""
    events, invalid = _parse_all(batch, lambda raw: admit_event(parse_event(raw), now, bounds),
                                 rejected)
    await gate.apply_events(events)
    return invalid


async def process_outcomes(gate: Gate, batch: Sequence[Incoming], now: datetime,
                           bounds: TimeBounds = DEFAULT_BOUNDS,
                           rejected: Rejected = log_rejected) -> list[Outgoing]:
    """Settle reservations with outcomes (conversations at their own time, no later than
    ``now``); invalid ones are returned for the dead letters."""
    outcomes, invalid = _parse_all(
        batch, lambda raw: admit_outcome(parse_outcome(raw), now, bounds), rejected)
    await gate.apply_outcomes(outcomes, now)
    return invalid


def _parse_all(batch: Sequence[Incoming], parse: Callable[[bytes], T], rejected: Rejected
               ) -> tuple[list[T], list[Outgoing]]:
    parsed: list[T] = []
    invalid: list[Outgoing] = []
    for message in batch:
        try:
            parsed.append(parse(message.value))  # type: ignore[arg-type]
        except InvalidInput as error:
            rejected(message, error)
            invalid.append(routing.invalid(message, error))
    return parsed, invalid
