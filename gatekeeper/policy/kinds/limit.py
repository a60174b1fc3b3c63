"""``limit``: at most ``max`` counted contacts in a window of the debtor's local calendar.

The window is a calendar day, week or month, or ``rolling_days`` consecutive local days;
counts are per debtor and optionally per ``per`` scope. An allowed request is a
reservation; an outcome not in ``counts`` releases it. ``except_consent`` leaves a contact
made under the debtor's direct prior consent neither checked nor counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gatekeeper.localtime import day_number, month_number, week_number
from gatekeeper.model import Reason
from gatekeeper.policy import checks
from gatekeeper.policy.checks import CALENDAR, OUTCOMES, SCOPES, Ctx, Param
from gatekeeper.policy.kinds.base import CounterCheck, Kind, Planning, code_of
from gatekeeper.policy.model import Params, Rule

NOUNS = {"call": "calls", "sms": "texts", "email": "emails", "letter": "letters", "visit": "visits"}
PERIOD_WORDS = {"day": "today", "week": "this week", "month": "this month"}
CALENDAR_DAYS = {"day": 1, "week": 7, "month": 31}


@dataclass(frozen=True, slots=True)
class LimitParams(Params):
    max: int
    calendar: str | None  # day | week | month; None for a rolling window
    rolling_days: int | None
    per: frozenset[str] = frozenset()
    counts: frozenset[str] = frozenset()  # empty: every outcome keeps the reservation
    except_consent: bool = False

    @property
    def window_days(self) -> int:
        return self.rolling_days or CALENDAR_DAYS[str(self.calendar)]


def _window(ctx: Ctx, path: str, value: Any) -> dict[str, Any]:
    window = checks.mapping(ctx, path, value, {
        "calendar": (False, checks.one_of(CALENDAR)),
        "rolling_days": (False, checks.positive),
    })
    if len(window) != 1:
        raise ctx.fail(path, "expected exactly one of calendar (day, week, month) or rolling_days")
    return window


def _build(ctx: Ctx, path: str, values: dict[str, Any]) -> LimitParams:
    window = values.pop("window")
    return LimitParams(calendar=window.get("calendar"), rolling_days=window.get("rolling_days"),
                       **values)


def _describe(p: LimitParams) -> str:
    span = (f"{p.rolling_days} consecutive local days" if p.rolling_days
            else f"local calendar {p.calendar}")
    per = " per " + ", ".join(sorted(p.per)) if p.per else " per debtor"
    counts = f"; counts outcomes {', '.join(sorted(p.counts))}" if p.counts else ""
    consent = "; contacts under direct prior consent are not counted" if p.except_consent else ""
    return f"max {p.max} in a {span}{per}{counts}{consent}"


def _plan(rule: Rule, p: LimitParams, planning: Planning) -> Reason | None:
    if p.except_consent and planning.consented():
        return None  # direct prior consent: neither checked nor counted
    planning.checks.append(counter(rule, p, planning))
    return None


def _scope(p: LimitParams, planning: Planning) -> tuple[str, str]:
    request, hasher = planning.request, planning.hasher
    parts, words = [], []
    for scope in sorted(p.per):
        if scope == "debt":
            parts.append(hasher.value("debt:" + request.debt_id)[:10] if request.debt_id else "-")
            words.append(f"about debt {request.debt_id}" if request.debt_id else "about this debt")
        elif scope == "destination":
            parts.append(hasher.destination(request.channel, request.destination)[:12])
            words.append("to this destination")
        elif scope == "destination_kind":
            kind = request.destination_kind or "other"
            parts.append(kind[:3])
            words.append(f"to {kind} destinations")
        elif scope in ("creditor", "collector"):
            value = getattr(request, f"{scope}_id")
            parts.append(hasher.value(f"{scope}:{value}")[:8] if value else "-")
            words.append(f"for this {scope}")
        elif scope == "channel":
            parts.append(request.channel)
    return ".".join(parts), " ".join(words)


def _what(rule: Rule, words: str) -> str:
    channels = sorted(rule.channels)
    noun = NOUNS[channels[0]] if len(channels) == 1 else "contacts"
    return f"{noun} {words}".strip()


def counter(rule: Rule, p: LimitParams, planning: Planning) -> CounterCheck:
    """The counter fields of the request's window and scope (field ``<rule>|<scope>|<period>``,
    day-granular for rolling windows)."""
    scope, words = _scope(p, planning)
    code = code_of(rule.name)
    day = planning.day
    if p.rolling_days:
        today = day_number(day)
        fields = tuple(f"{code}|{scope}|{n}" for n in range(today - p.rolling_days + 1, today + 1))
        return CounterCheck(rule, fields, fields[-1], p.max, "rolling",
                            _what(rule, words) + f" in {p.rolling_days} consecutive days")
    period = str(p.calendar)
    if period == "day":
        key = str(day_number(day))
    elif period == "week":
        key = f"w{week_number(day)}"
    else:
        key = f"m{month_number(day)}"
    field = f"{code}|{scope}|{key}"
    return CounterCheck(rule, (field,), field, p.max, period,
                        _what(rule, words) + " " + PERIOD_WORDS[period])


KIND: Kind[LimitParams] = Kind(
    name="limit",
    meaning="at most `max` in the window, in the debtor's local calendar, per debtor and per "
            "`per` scope; an allowed request is a reservation, and an outcome not in `counts` "
            "releases it; with `except_consent`, contacts under direct prior consent are "
            "neither checked nor counted",
    params={
        "max": Param(True, checks.count, "N"),
        "window": Param(True, _window, "{calendar: day\\|week\\|month} or {rolling_days: N}"),
        "per": Param(False, checks.choices(SCOPES), checks.listed(SCOPES)),
        "counts": Param(False, checks.choices(OUTCOMES), checks.listed(OUTCOMES)),
        "except_consent": Param(False, checks.boolean, "true"),
    },
    build=_build,
    describe=_describe,
    plan=_plan,
)
