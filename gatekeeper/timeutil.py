"""Parsing and rendering of the contract's timestamps (RFC 3339 with an offset), and
timestamp arithmetic that never raises.

Python's datetimes span years 1 to 9999. An input may name an instant whose UTC or local
rendering falls outside that span (``0001-01-01T00:00:00+14:00`` is in year 0 in UTC;
9999-12-31 evening in UTC is year 10000 in Kiritimati), and arithmetic near the ends
(the next local day, a retry time) may run past them. The helpers here saturate at the
ends instead: ``UTC_MIN`` and ``UTC_MAX`` stand for "before any time" and "the end of
time", and a retry time at ``UTC_MAX`` is rendered as no retry time at all (never).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache

UTC_MIN = datetime.min.replace(tzinfo=UTC)
UTC_MAX = datetime.max.replace(tzinfo=UTC)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; it must carry an offset. Raises ValueError.

    The result is in UTC, saturated to ``UTC_MIN`` / ``UTC_MAX`` when the instant lies
    outside the years 1 to 9999 in UTC."""
    if not isinstance(text, str) or len(text) < 20 or text[10] not in "Tt ":
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    value = datetime.fromisoformat(text.replace("z", "Z"))
    if value.tzinfo is None:
        raise ValueError(f"timestamp has no UTC offset: {text!r}")
    return to_zone(value, UTC)


def to_zone(value: datetime, zone: tzinfo) -> datetime:
    """``value.astimezone(zone)``, saturated to the first or last representable wall-clock
    time of that zone when the local rendering falls outside the years 1 to 9999."""
    try:
        return value.astimezone(zone)
    except (OverflowError, ValueError):
        end = datetime.max if value.year > 5000 else datetime.min
        return end.replace(tzinfo=zone)


def shift(value: datetime, delta: timedelta) -> datetime:
    """``value + delta``, saturated to ``UTC_MIN`` / ``UTC_MAX``."""
    try:
        return value + delta
    except OverflowError:
        return UTC_MAX if delta > timedelta(0) else UTC_MIN


def add_days(day: date, days: int) -> date | None:
    """``day + days``, or None when that day is outside the years 1 to 9999."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return None


def from_epoch(seconds: float) -> datetime:
    """The instant of a Unix time, saturated to ``UTC_MIN`` / ``UTC_MAX``."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return UTC_MAX if seconds > 0 else UTC_MIN


@lru_cache(maxsize=8192)  # a batch shares its evaluation time and most of its retry times
def format_utc(value: datetime) -> str:
    """Render as ``2026-12-01T13:00:00Z`` (milliseconds only when present; four-digit
    years, so that year 1 renders as ``0001``)."""
    value = to_zone(value, UTC)
    # isoformat pads the year to four digits and truncates to milliseconds; "+00:00" -> "Z"
    return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds"
                           )[:-6] + "Z"


def format_retry(value: datetime | None) -> str | None:
    """A retry time as text; None (no time will help) when there is none or it lies at the
    end of representable time."""
    if value is None or to_zone(value, UTC) >= UTC_MAX:
        return None
    return format_utc(value)
