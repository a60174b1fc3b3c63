"""PURE: is a message's own time sane against the gate's clock? And the time it is applied at.

Every caller passes ``now``: the worker the wall clock of the batch, ``simulate`` each
line's own timestamp, a rebuild from Kafka each message's broker timestamp. Nothing here
reads the clock.

    requested_at   at most ``clock_skew`` after now; at most ``max_request_age`` before now;
                   not before 1970-01-01
    occurred_at    (events, outcomes) at most ``clock_skew`` after now; not before
                   1970-01-01 (old history binds: an opt-out from years ago is still one)

A time outside those bounds is invalid input (the message goes to the dead letters, naming
the field, the bound and the value). An event or outcome a little ahead of the clock, within
the tolerance, is applied at ``now``: state is last-writer-wins by event time, and a time in
the future would otherwise outrank every real event until that time comes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from gatekeeper.errors import InvalidInput
from gatekeeper.model import ContactOutcome, ContactRequest, DebtorEvent
from gatekeeper.timeutil import format_utc, shift

if TYPE_CHECKING:
    from gatekeeper.settings import Settings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """How far a message's time may lie from the gate's clock."""

    clock_skew: timedelta = timedelta(seconds=300)
    max_request_age: timedelta = timedelta(days=30)

    @classmethod
    def from_settings(cls, settings: Settings) -> TimeBounds:
        """The bounds a worker runs with; a negative setting stops it with a message that
        names the variable."""
        for value, variable, unit in (
                (settings.clock_skew_seconds, "GATEKEEPER_CLOCK_SKEW_SECONDS", "seconds"),
                (settings.max_request_age_days, "GATEKEEPER_MAX_REQUEST_AGE_DAYS", "days")):
            if value < 0:
                raise SystemExit(f"{variable}: expected a number of {unit} >= 0, "
                                 f"found {value}")
        return cls(timedelta(seconds=settings.clock_skew_seconds),
                   timedelta(days=settings.max_request_age_days))


DEFAULT_BOUNDS = TimeBounds()


def check_request(request: ContactRequest, now: datetime, bounds: TimeBounds) -> None:
    """Raise InvalidInput when ``requested_at`` is ahead of ``now`` by more than the clock
    skew, older than the maximum request age, or before 1970."""
    oldest = max(EPOCH, shift(now, -bounds.max_request_age))
    _check("requested_at", request.requested_at, now, bounds, oldest,
           lambda: (f"older than the maximum request age of {_days(bounds.max_request_age)} "
                    f"before the gate's clock ({format_utc(now)})")
           if oldest > EPOCH else "before 1970")


def admit_event(event: DebtorEvent, now: datetime, bounds: TimeBounds) -> DebtorEvent:
    """The event as it is applied at ``now``: its time checked (InvalidInput when it is too
    far ahead, or before 1970), and no later than ``now``."""
    _check("occurred_at", event.occurred_at, now, bounds, EPOCH, lambda: "before 1970")
    return dataclasses.replace(event, occurred_at=min(event.occurred_at, now))


def admit_outcome(outcome: ContactOutcome, now: datetime, bounds: TimeBounds
                  ) -> ContactOutcome:
    """The outcome as it is applied at ``now``, checked and capped like an event."""
    _check("occurred_at", outcome.occurred_at, now, bounds, EPOCH, lambda: "before 1970")
    return dataclasses.replace(outcome, occurred_at=min(outcome.occurred_at, now))


def _check(field: str, value: datetime, now: datetime, bounds: TimeBounds,
           oldest: datetime, too_old: Callable[[], str]) -> None:
    """(The words are made only for a message that fails: this runs for every request.)"""
    latest = shift(now, bounds.clock_skew)
    if value > latest:
        found = format_utc(value)
        raise InvalidInput(
            f"{field}: {found} is in the future: {_ahead(value - now)} after the gate's "
            f"clock ({format_utc(now)}), more than the clock skew tolerance of "
            f"{int(bounds.clock_skew.total_seconds())} s",
            field=field, expected=f"at most {format_utc(latest)}", found=found)
    if value < oldest:
        found = format_utc(value)
        raise InvalidInput(
            f"{field}: {found} is {too_old()}", field=field,
            expected=f"at least {format_utc(oldest)}", found=found)


def _ahead(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 172800:
        return f"{seconds} s"
    return f"{seconds // 86400} days"


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:g} days"
