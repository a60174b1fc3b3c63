"""Value checks of the closed policy format, shared by the pack loader and the rule kinds.

A check takes the context (the file), the path inside the file and the value read from
YAML, and returns the typed value or raises a PolicyError naming file, path, what was
expected and what was found. ``Param`` declares one YAML key of a rule kind: whether it is
required, its check, and how its values read in the README's kinds table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from typing import Any, NamedTuple

from gatekeeper.errors import PolicyError
from gatekeeper.model import CHANNELS, OUTCOMES
from gatekeeper.policy.model import WEEKDAYS, Span

PURPOSES = ("collection", "opt_out_confirmation", "cease_notice", "reply_to_debtor", "legal_notice")
DESTINATION_KINDS = ("mobile", "residence", "work", "other")
SCOPES = ("debt", "destination", "destination_kind", "creditor", "collector", "channel")
STATUSES = ("cease", "attorney_represented", "bankruptcy", "deceased", "dispute", "vulnerable")
CONTENT_FIELDS = ("amount_due", "currency", "due_date", "payment_options", "opt_out_instructions")
CALENDAR = ("day", "week", "month")
HOLIDAY_CATEGORIES = ("public", "optional", "government")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SPAN = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

__all__ = ["CALENDAR", "CHANNELS", "CONTENT_FIELDS", "DESTINATION_KINDS", "HOLIDAY_CATEGORIES",
           "OUTCOMES", "PURPOSES", "SCOPES", "STATUSES", "Check", "Ctx", "Param"]


class Ctx:
    """The file being read; ``fail`` builds the error for a path inside it."""

    def __init__(self, file: str):
        self.file = file

    def fail(self, path: str, message: str) -> PolicyError:
        return PolicyError(self.file, path, message)


Check = Callable[[Ctx, str, Any], Any]


class Param(NamedTuple):
    """One YAML key of a rule kind."""

    required: bool
    check: Check
    values: str  # how the values read in the README ("N", "[debt, destination]", ...)


def found(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def text(ctx: Ctx, path: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ctx.fail(path, f"expected a non-empty string, found {found(value)}")
    return value


def name(ctx: Ctx, path: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise ctx.fail(path, f"expected a lower-case name (a-z, 0-9, -), found {found(value)}")
    return value


def boolean(ctx: Ctx, path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ctx.fail(path, f"expected true or false, found {found(value)}")
    return value


def count(ctx: Ctx, path: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ctx.fail(path, f"expected a whole number >= 0, found {found(value)}")
    return value


def positive(ctx: Ctx, path: str, value: Any) -> int:
    number = count(ctx, path, value)
    if number < 1:
        raise ctx.fail(path, f"expected a whole number >= 1, found {found(value)}")
    return number


def iso_date(ctx: Ctx, path: str, value: Any) -> date:
    """A calendar date; YAML reads ``2026-01-01`` as a date already (a date with a time of
    day, or a number, is not one)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ctx.fail(path, f"expected a date YYYY-MM-DD, found {found(value)}")


def choices(options: Iterable[str]) -> Check:
    allowed = tuple(options)

    def check(ctx: Ctx, path: str, value: Any) -> frozenset[str]:
        if not isinstance(value, list) or not value:
            raise ctx.fail(path, f"expected a non-empty list of {', '.join(allowed)}, "
                                 f"found {found(value)}")
        for i, item in enumerate(value):
            if item not in allowed:
                raise ctx.fail(f"{path}[{i}]", f"expected one of {', '.join(allowed)}, "
                                               f"found {found(item)}")
        return frozenset(value)

    return check


def one_of(options: Iterable[str]) -> Check:
    allowed = tuple(options)

    def check(ctx: Ctx, path: str, value: Any) -> str:
        if value not in allowed:
            raise ctx.fail(path, f"expected one of {', '.join(allowed)}, found {found(value)}")
        return str(value)

    return check


def strings(ctx: Ctx, path: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ctx.fail(path, f"expected a list of strings, found {found(value)}")
    return tuple(text(ctx, f"{path}[{i}]", item) for i, item in enumerate(value))


def mapping(ctx: Ctx, path: str, value: Any, allowed: dict[str, tuple[Any, ...]]
            ) -> dict[str, Any]:
    """A closed mapping: ``allowed`` maps each key to (required, check, ...)."""
    if not isinstance(value, dict):
        raise ctx.fail(path, f"expected a mapping, found {found(value)}")
    out: dict[str, Any] = {}
    for key in value:
        if key not in allowed:
            raise ctx.fail(join(path, str(key)),
                           f"unknown key; expected one of {', '.join(sorted(allowed))}")
    for key, (required, check, *_) in allowed.items():
        if key in value:
            out[key] = check(ctx, join(path, key), value[key])
        elif required:
            raise ctx.fail(join(path, key), "required key is missing")
    return out


def spans(ctx: Ctx, path: str, value: Any) -> tuple[Span, ...]:
    if not isinstance(value, list):
        raise ctx.fail(path, f"expected a list of \"HH:MM-HH:MM\" spans, found {found(value)}")
    out = []
    for i, item in enumerate(value):
        match = SPAN.match(item) if isinstance(item, str) else None
        if not match:
            raise ctx.fail(f"{path}[{i}]", f"expected \"HH:MM-HH:MM\", found {found(item)}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        end = h2 * 60 + m2
        if end > 1440:
            raise ctx.fail(f"{path}[{i}]", f"expected an end no later than 24:00, found {item!r}")
        if end <= h1 * 60 + m1:
            raise ctx.fail(f"{path}[{i}]", f"the end must be after the start, found {item!r}")
        out.append(Span(time(h1, m1), end))
    return tuple(out)


def day_set(ctx: Ctx, path: str, key: str) -> tuple[str, ...]:
    if key in ("daily", "all"):
        return WEEKDAYS
    if key in WEEKDAYS:
        return (key,)
    first, _, last = key.partition("-")
    if first in WEEKDAYS and last in WEEKDAYS:
        i, j = WEEKDAYS.index(first), WEEKDAYS.index(last)
        if i <= j:
            return WEEKDAYS[i:j + 1]
    raise ctx.fail(path, f"expected a weekday (mon..sun), a range like mon-fri, or daily, "
                         f"found {key!r}")


def week(ctx: Ctx, path: str, value: Any) -> dict[str, tuple[Span, ...]]:
    if not isinstance(value, dict) or not value:
        raise ctx.fail(path, f"expected a mapping of weekdays to spans, found {found(value)}")
    out: dict[str, tuple[Span, ...]] = {}
    for key, day_spans in value.items():
        key_path = join(path, str(key))
        for day in day_set(ctx, key_path, str(key)):
            if day in out:
                raise ctx.fail(key_path, f"{day} is given twice")
            out[day] = spans(ctx, key_path, day_spans)
    return out


def listed(options: Iterable[str]) -> str:
    """A list of choices as the README shows it."""
    return "[" + ", ".join(options) + "]"


def either(options: Iterable[str]) -> str:
    return "\\|".join(options)
