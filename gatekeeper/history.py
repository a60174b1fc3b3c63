"""History files for ``gatekeeper simulate``: JSON lines, each parsed and validated with
its line number.

    {"kind": "request", "data": {...}}    a ContactRequest (schemas/contact_request.schema.json)
    {"kind": "event",   "data": {...}}    a DebtorEvent (schemas/debtor_event.schema.json)
    {"kind": "outcome", "data": {...}}    a ContactOutcome (schemas/contact_outcome.schema.json)
    {"kind": "cancel",  "data": {...}}    a cancel of a parked request (contact_cancel.schema.json)

Blank lines and lines starting with ``#`` are skipped; other keys of a line (such as the
scenario files' ``expect``) are ignored. A line that is not JSON, names another kind, or
whose data breaks the contract is a ``BadLine`` naming the line and the problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gatekeeper.errors import InvalidInput
from gatekeeper.model import ContactCancel, ContactOutcome, ContactRequest, DebtorEvent
from gatekeeper.timebounds import DEFAULT_BOUNDS, admit_event, admit_outcome, check_request
from gatekeeper.validate import (
    contact_cancel_from_dict,
    event_from_dict,
    outcome_from_dict,
    request_from_dict,
)

KINDS = ("request", "event", "outcome", "cancel")
Record = ContactRequest | DebtorEvent | ContactOutcome | ContactCancel


# Each line's time is checked against the clock as the worker checks it (``timebounds``);
# since each line is its own clock, only the fixed bounds (nothing before 1970) can fail.
def _request(data: dict[str, Any]) -> Record:
    request = request_from_dict(data)
    check_request(request, request.requested_at, DEFAULT_BOUNDS)
    return request


def _event(data: dict[str, Any]) -> Record:
    event = event_from_dict(data)
    return admit_event(event, event.occurred_at, DEFAULT_BOUNDS)


def _outcome(data: dict[str, Any]) -> Record:
    outcome = outcome_from_dict(data)
    return admit_outcome(outcome, outcome.occurred_at, DEFAULT_BOUNDS)


def _cancel(data: dict[str, Any]) -> Record:
    return contact_cancel_from_dict(data)


PARSERS: dict[str, Callable[[dict[str, Any]], Record]] = {
    "request": _request, "event": _event, "outcome": _outcome, "cancel": _cancel}


@dataclass(frozen=True, slots=True)
class Entry:
    number: int
    kind: str  # request | event | outcome | cancel
    record: Record


@dataclass(frozen=True, slots=True)
class BadLine:
    number: int
    kind: str | None  # the line's kind when it names a known one
    data: Any  # the line's data, when it has some (a bad request still has ids)
    problem: str

    def error(self) -> InvalidInput:
        return InvalidInput(f"line {self.number}: {self.problem}")

    def describe(self, file: str | Path) -> str:
        return f"{file}:{self.number}: {self.problem}"


def read_history(path: Path) -> Iterator[Entry | BadLine]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip() and not line.lstrip().startswith(b"#"):
                yield parse_line(number, line)


def parse_line(number: int, line: bytes) -> Entry | BadLine:
    try:
        item = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return BadLine(number, None, None, f"not JSON: {exc}")
    if not isinstance(item, dict):
        return BadLine(number, None, None, 'expected an object {"kind": ..., "data": {...}}, '
                                           f"found {_short(item)}")
    kind, data = item.get("kind"), item.get("data")
    if kind not in KINDS:
        return BadLine(number, None, data, f"kind: expected one of {', '.join(KINDS)}, "
                                           f"found {_short(kind)}")
    if not isinstance(data, dict):
        return BadLine(number, kind, None, f"{kind}: data: expected an object, "
                                           f"found {_short(data)}")
    try:
        return Entry(number, kind, PARSERS[kind](data))
    except InvalidInput as error:
        return BadLine(number, kind, data, f"{kind}: {_problem(error)}")


def _problem(error: InvalidInput) -> str:
    found = error.found
    if found is None or str(found) in error.message:
        return error.message
    return f"{error.message}, found {_short(found)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
