"""``inconvenient_times``: honour the times the debtor said are inconvenient
(``inconvenient_times`` events: local spans, optionally on some weekdays)."""

from __future__ import annotations

from datetime import date, datetime

from gatekeeper.localtime import Hours, local_instant
from gatekeeper.model import Reason, Window
from gatekeeper.policy.kinds.base import Kind, Planning, construct, reason
from gatekeeper.policy.model import WEEKDAYS, Params, Rule
from gatekeeper.timeutil import UTC_MAX, add_days, to_zone


class Inconvenient:
    """Consumer-designated inconvenient local times, as a time constraint."""

    def __init__(self, windows: tuple[Window, ...], zone_name: str):
        self.hours = Hours(zone_name, {}, None)
        self.windows = windows

    def _blocked_until(self, instant: datetime) -> datetime | None:
        local = to_zone(instant, self.hours.tz)
        minute = local.hour * 60 + local.minute
        weekday = WEEKDAYS[local.weekday()]
        for window in self.windows:
            if window.days and weekday not in window.days:
                continue
            start = int(window.start[:2]) * 60 + int(window.start[3:])
            end = int(window.end[:2]) * 60 + int(window.end[3:])
            inside = start <= minute < end if start < end else (minute >= start or minute < end)
            if inside:
                day: date | None = local.date()
                if start >= end and minute >= start:
                    day = add_days(local.date(), 1)
                if day is None:
                    return UTC_MAX  # the window runs past the end of the calendar
                return local_instant(day, end, self.hours.zone_name)
        return None

    def allows(self, instant: datetime) -> bool:
        return self._blocked_until(instant) is None

    def earliest(self, instant: datetime) -> datetime | None:
        current = instant
        for _ in range(16):
            until = self._blocked_until(current)
            if until is None:
                return current
            if until >= UTC_MAX:
                return None  # never
            current = until
        return None


def _plan(rule: Rule, p: Params, planning: Planning) -> Reason | None:
    if not planning.state.inconvenient:
        return None
    constraint = Inconvenient(planning.state.inconvenient, planning.primary_zone)
    planning.constrain(rule, constraint)
    if constraint.allows(planning.now):
        return None
    return reason(rule, "the debtor said this time is inconvenient",
                  retry_at=constraint.earliest(planning.now))


KIND: Kind[Params] = Kind(
    name="inconvenient_times",
    meaning="consumer-designated inconvenient times",
    params={},
    build=construct(Params),
    describe=lambda p: "",
    plan=_plan,
)
