"""``hours``: contact only inside local windows per weekday, in every candidate time zone.

``holidays: block`` forbids the statutory holidays of the debtor's region
(``holiday_categories`` widens the calendar: public, optional, government);
``except_consent`` lifts the rule while direct prior consent holds. A debtor whose time
zone is unknown cannot be checked and is blocked (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gatekeeper.localtime import Hours, earliest_common
from gatekeeper.model import Reason
from gatekeeper.policy import checks
from gatekeeper.policy.checks import HOLIDAY_CATEGORIES, Ctx, Param
from gatekeeper.policy.kinds.base import Kind, Planning, reason
from gatekeeper.policy.model import WEEKDAYS, Params, Rule, Span


@dataclass(frozen=True, slots=True)
class HoursParams(Params):
    windows: dict[str, Sequence[Span]]  # weekday -> spans; a missing day has none
    holidays: str = "allow"  # allow | block
    holiday_categories: frozenset[str] = frozenset()  # empty: public holidays
    except_consent: bool = False


def _build(ctx: Ctx, path: str, values: dict[str, Any]) -> HoursParams:
    if "holiday_categories" in values and values.get("holidays") != "block":
        raise ctx.fail(checks.join(path, "holiday_categories"),
                       "holiday_categories needs holidays: block")
    return HoursParams(**values)


def _span(span: Span) -> str:
    return (f"{span.start.strftime('%H:%M')}-{span.end_minutes // 60:02d}:"
            f"{span.end_minutes % 60:02d}")


def _describe(p: HoursParams) -> str:
    days = [f"{day} {', '.join(_span(s) for s in p.windows.get(day, ())) or 'none'}"
            for day in WEEKDAYS]
    extra = "; none on statutory holidays" if p.holidays == "block" else ""
    if p.holiday_categories:
        extra += f" ({', '.join(sorted(p.holiday_categories))} calendars)"
    extra += "; lifted by direct prior consent" if p.except_consent else ""
    return "; ".join(days) + extra


def hours(p: HoursParams, zones: tuple[str, ...], region: str | None) -> tuple[Hours, ...]:
    """The rule's windows in each zone (with the region's holidays when they block);
    remembered per rule, zones and region (a policy's params never change once loaded: they
    are told apart by identity), as requests of a shape repeat."""
    holiday_region = region if p.holidays == "block" else None
    key = (id(p), zones, holiday_region)
    found = _HOURS.get(key)
    if found is None or found[0] is not p:
        if len(_HOURS) >= 65536:
            _HOURS.clear()
        categories = tuple(sorted(p.holiday_categories or ("public",)))
        found = _HOURS[key] = (p, tuple(Hours.of(z, p.windows, holiday_region, categories)
                                        for z in zones))
    return found[1]


_HOURS: dict[tuple[int, tuple[str, ...], str | None], tuple[HoursParams, tuple[Hours, ...]]] = {}


def _plan(rule: Rule, p: HoursParams, planning: Planning) -> Reason | None:
    if p.except_consent and planning.consented():
        return None
    if not planning.zones:
        return reason(rule, "the debtor's time zone is unknown, so the local time cannot be "
                            "checked")
    windows = hours(p, planning.zones, planning.profile.region)
    planning.constrain(rule, *windows)
    closed = [h.zone_name for h in windows if not h.allows(planning.now)]
    if not closed:
        return None
    return reason(rule, "outside the allowed hours in " + ", ".join(closed),
                  retry_at=earliest_common(planning.now, windows))


KIND: Kind[HoursParams] = Kind(
    name="hours",
    meaning="only inside the windows, in every candidate time zone; none on the region's "
            "statutory holidays (of the `holiday_categories` calendars, public by default); "
            "`except_consent` lifts it under direct prior consent",
    params={
        "windows": Param(True, checks.week,
                         '{mon-fri: ["08:00-21:00"], sun: ["13:00-17:00"], ...}'),
        "holidays": Param(False, checks.one_of(("allow", "block")), "block"),
        "holiday_categories": Param(False, checks.choices(HOLIDAY_CATEGORIES),
                                    checks.listed(HOLIDAY_CATEGORIES)),
        "except_consent": Param(False, checks.boolean, "true"),
    },
    build=_build,
    describe=_describe,
    plan=_plan,
)
