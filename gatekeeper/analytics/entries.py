"""PURE: messages of the Kafka record (``record_reader.Item``) -> typed entries in time order.

Events and outcomes pass the time check the live agents made, with their broker timestamp
as the clock (``timebounds``: the same ones are left out as live, and an event dated a
little ahead is applied at that timestamp). A decision is placed at its ``evaluated_at``,
the instant it was made: the live worker applied, before it, every event acknowledged
before its batch, and its outcomes come after it. A message that cannot be read is counted
as skipped (dead-lettered live, or not written by a gatekeeper).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from gatekeeper.errors import InvalidInput
from gatekeeper.model import ContactOutcome, ContactRequest, DebtorEvent
from gatekeeper.timebounds import DEFAULT_BOUNDS, TimeBounds, admit_event, admit_outcome
from gatekeeper.timeutil import parse_rfc3339
from gatekeeper.validate import parse_event, parse_outcome, request_from_dict

if TYPE_CHECKING:  # (record_reader is the Kafka side: this module stays pure)
    from gatekeeper.record_reader import Item

EVENT, DECISION, OUTCOME = range(3)  # at one instant: events first, as live


@dataclass(frozen=True, slots=True)
class Decided:
    """One message of contact.decisions."""

    request: ContactRequest
    decision: dict[str, Any]
    record: str | None  # the gk-record header
    via: str


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    order: int  # EVENT | DECISION | OUTCOME
    debtor: str
    value: DebtorEvent | Decided | ContactOutcome


@dataclass
class Parsed:
    entries: list[Entry] = field(default_factory=list)
    skipped: int = 0


def parse_items(items: Iterable[Item], bounds: TimeBounds = DEFAULT_BOUNDS) -> Parsed:
    """The entries of these items, sorted by time (a decision at its evaluated_at)."""
    out = Parsed()
    for item in items:
        entry = _entry(item, bounds)
        if entry is None:
            out.skipped += 1
        else:
            out.entries.append(entry)
    out.entries.sort(key=lambda e: (e.at, e.order))
    return out


def _entry(item: Item, bounds: TimeBounds) -> Entry | None:
    broker_time = datetime.fromtimestamp(item.timestamp / 1000, UTC)
    try:
        if item.order == EVENT:
            event = admit_event(parse_event(item.value), broker_time, bounds)
            return Entry(broker_time, EVENT, event.debtor_id, event)
        if item.order == OUTCOME:
            outcome = admit_outcome(parse_outcome(item.value), broker_time, bounds)
            return Entry(broker_time, OUTCOME, outcome.debtor_id, outcome)
        body = orjson.loads(item.value)
        decision = body["decision"]
        if decision["decision"] not in ("allowed", "blocked"):
            return None
        request = request_from_dict(body["request"])
        at = parse_rfc3339(decision["evaluated_at"])
        return Entry(at, DECISION, request.debtor_id,
                     Decided(request, decision, item.record, str(body.get("via", "stream"))))
    except (orjson.JSONDecodeError, InvalidInput, KeyError, TypeError, ValueError):
        return None
