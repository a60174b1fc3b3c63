"""PURE: (request, policy, debtor state, now) -> Plan.

A plan holds the verdicts that need no counter (quiet hours, status, opt-outs, content...),
the counter checks the store must make atomically, and the time constraints from which
the verdict computes ``retry_at``. It never imports faust or redis and never reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from gatekeeper.counters.keys import Hasher, rule_code
from gatekeeper.localtime import (
    Hours,
    NotBefore,
    candidate_zones,
    day_number,
    earliest_common,
    local_date,
    local_instant,
    month_number,
    next_period_start,
    start_of_day_after,
    week_number,
)
from gatekeeper.model import ContactRequest, DebtorProfile, DebtorState, Reason
from gatekeeper.policy.model import Policy, Rule
from gatekeeper.timeutil import (
    UTC_MAX,
    add_days,
    format_retry,
    format_utc,
    from_epoch,
    to_zone,
)

FALLBACK_ZONE = "UTC"
NOUNS = {"call": "calls", "sms": "texts", "email": "emails", "letter": "letters", "visit": "visits"}
PERIOD_WORDS = {"day": "today", "week": "this week", "month": "this month"}


@dataclass(frozen=True, slots=True)
class CounterCheck:
    """Sum ``fields``; the request passes if the sum is below ``limit``; if it is allowed,
    ``increment`` is counted. Rolling windows list their days oldest first."""

    rule: Rule
    fields: tuple[str, ...]
    increment: str
    limit: int
    period: str  # day | week | month | rolling
    what: str  # plain words for the message: "calls to this number"

    @property
    def shadow(self) -> bool:
        return self.rule.shadow


@dataclass(frozen=True, slots=True)
class Plan:
    request: ContactRequest
    now: datetime
    policy_version: str
    profile: DebtorProfile
    zones: tuple[str, ...]
    primary_zone: str
    local_day: date
    state_version: int
    blocking: tuple[Reason, ...]
    shadow: tuple[Reason, ...]
    checks: tuple[CounterCheck, ...]
    spacing: tuple[Rule, int] | None  # rule, minimum seconds since the last contact
    constraints: tuple[Any, ...]  # every time-based rule in force, for retry_at

    @property
    def statically_blocked(self) -> bool:
        return bool(self.blocking)


def _reason(rule: Rule, message: str, *, retry_at: datetime | None = None,
            limit: int | None = None, observed: int | None = None) -> Reason:
    return Reason(rule=rule.name, kind=rule.kind, message=message, limit=limit,
                  observed=observed, retry_at=format_retry(retry_at), citation=rule.citation)


def _scope(rule: Rule, request: ContactRequest, hasher: Hasher) -> tuple[str, str]:
    parts, words = [], []
    for scope in sorted(rule.params.get("per", ())):
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


def _counter(rule: Rule, request: ContactRequest, hasher: Hasher, day: date) -> CounterCheck:
    scope, words = _scope(rule, request, hasher)
    code = rule_code(rule.name)
    window = rule.params["window"]
    if "rolling_days" in window:
        days = window["rolling_days"]
        today = day_number(day)
        fields = tuple(f"{code}|{scope}|{n}" for n in range(today - days + 1, today + 1))
        return CounterCheck(rule, fields, fields[-1], rule.params["max"], "rolling",
                            _what(rule, words) + f" in {days} consecutive days")
    period = window["calendar"]
    if period == "day":
        key = str(day_number(day))
    elif period == "week":
        key = f"w{week_number(day)}"
    else:
        key = f"m{month_number(day)}"
    field = f"{code}|{scope}|{key}"
    return CounterCheck(rule, (field,), field, rule.params["max"], period,
                        _what(rule, words) + " " + PERIOD_WORDS[period])


def _consented(state: DebtorState, request: ContactRequest, now: datetime) -> bool:
    seconds = now.timestamp()
    wanted = {f"{c}:{d}" for c in (request.channel, "*") for d in (request.debt_id or "*", "*")}
    return any(key in wanted and until >= seconds for key, until in state.consents)


def _opted_in(state: DebtorState, request: ContactRequest, hasher: Hasher) -> bool:
    """An ``opt_in`` event for the request's channel (or every channel), or for its
    destination, is on record and not undone by a later opt-out."""
    target = hasher.destination(request.channel, request.destination)
    wanted = {"opt_in:*", f"opt_in:{request.channel}", f"opt_in:{request.channel}:{target}"}
    return bool(wanted & state.flags)


def _hours(rule: Rule, zones: tuple[str, ...], region: str | None) -> list[Hours]:
    holiday_region = region if rule.params.get("holidays") == "block" else None
    categories = tuple(sorted(rule.params.get("holiday_categories", ("public",))))
    return [Hours(z, rule.params["windows"], holiday_region, categories) for z in zones]


class _Inconvenient:
    """Consumer-designated inconvenient local times, as a time constraint."""

    def __init__(self, windows: tuple[Any, ...], zone_name: str):
        self.hours = Hours(zone_name, {}, None)
        self.windows = windows

    def _blocked_until(self, instant: datetime) -> datetime | None:
        local = to_zone(instant, self.hours.tz)
        minute = local.hour * 60 + local.minute
        weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
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


def make_plan(request: ContactRequest, policy: Policy, state: DebtorState, now: datetime,
              hasher: Hasher) -> Plan:
    profile = state.profile.overlay(request.debtor)
    zones = candidate_zones(request.channel, request.destination,
                            request.debtor.timezone, state.profile.timezone)
    primary = zones[0] if zones else FALLBACK_ZONE
    day = local_date(now, primary)
    blocking: list[Reason] = []
    shadow: list[Reason] = []
    checks: list[CounterCheck] = []
    constraints: list[Any] = []
    spacing: tuple[Rule, int] | None = None

    for rule in _applicable(policy, profile.region, profile.postal_code, day, request.channel,
                            request.purpose, request.destination_kind):
        found: list[Reason] = []
        kind = rule.kind
        if rule.params.get("except_consent") and kind in ("limit", "cooldown") \
                and _consented(state, request, now):
            continue  # direct prior consent: neither checked nor counted
        if kind == "limit":
            checks.append(_counter(rule, request, hasher, day))
        elif kind == "hours":
            if rule.params.get("except_consent") and _consented(state, request, now):
                continue
            if not zones:
                found.append(_reason(rule, "the debtor's time zone is unknown, so the "
                                           "local time cannot be checked"))
            else:
                hours = _hours(rule, zones, profile.region)
                if not rule.shadow:
                    constraints.extend(hours)
                closed = [h.zone_name for h in hours if not h.allows(now)]
                if closed:
                    retry = earliest_common(now, hours)
                    found.append(_reason(rule, "outside the allowed hours in "
                                               + ", ".join(closed), retry_at=retry))
        elif kind == "inconvenient_times":
            if state.inconvenient:
                constraint = _Inconvenient(state.inconvenient, primary)
                if not rule.shadow:
                    constraints.append(constraint)
                if not constraint.allows(now):
                    found.append(_reason(rule, "the debtor said this time is inconvenient",
                                         retry_at=constraint.earliest(now)))
        elif kind == "status":
            if request.purpose not in rule.params.get("except_purposes", ()):
                active = _active_statuses(rule, state, request)
                if active:
                    found.append(_reason(rule, "debtor status: " + ", ".join(active)))
        elif kind == "opt_out":
            if request.purpose not in rule.params.get("except_purposes", ()):
                target = hasher.destination(request.channel, request.destination)
                if request.channel in state.opt_outs:
                    found.append(_reason(rule, f"the debtor opted out of {request.channel}"))
                elif f"{request.channel}:{target}" in state.opt_outs:
                    found.append(_reason(rule, f"the debtor opted out of {request.channel} "
                                               "to this destination"))
        elif kind == "opt_in_required":
            if request.purpose not in rule.params.get("except_purposes", ()) \
                    and not _opted_in(state, request, hasher):
                found.append(_reason(rule, f"the debtor has not opted in to {request.channel}"))
        elif kind == "min_days_past_due":
            needed = rule.params["days"]
            if profile.days_past_due is None:
                found.append(_reason(rule, f"days past due unknown; {needed} required",
                                     limit=needed))
            elif profile.days_past_due < needed:
                found.append(_reason(rule, f"{profile.days_past_due} days past due; {needed} "
                                           "required", limit=needed,
                                     observed=profile.days_past_due))
        elif kind == "content":
            content = request.content or {}
            missing = [f for f in sorted(rule.params["fields"]) if content.get(f) in (None, "", [])]
            if missing:
                found.append(_reason(rule, "the notice lacks " + ", ".join(missing)))
        elif kind == "expiry":
            if request.not_after is not None and now > request.not_after:
                found.append(_reason(rule, "expired at " + format_utc(request.not_after)))
        elif kind == "cooldown":
            until = _cooldown_until(rule, state, request, primary)
            if until is not None:
                if not rule.shadow:
                    constraints.append(NotBefore(until))
                if now < until:
                    found.append(_reason(rule, f"a conversation about this debt less than "
                                               f"{rule.params['days']} days ago", retry_at=until))
        elif kind == "spacing" and (rule.params["when"] == "always" or profile.hardship):
            spacing = (rule, rule.params["min_days"] * 86400)
        (shadow if rule.shadow else blocking).extend(found)

    return Plan(
        request=request, now=now, policy_version=policy.version, profile=profile,
        zones=zones, primary_zone=primary, local_day=day, state_version=state.version,
        blocking=tuple(blocking), shadow=tuple(shadow), checks=tuple(checks),
        spacing=spacing, constraints=tuple(constraints),
    )


_APPLICABLE: dict[int, tuple[Policy, dict[tuple[Any, ...], tuple[Rule, ...]]]] = {}


def _applicable(policy: Policy, region: str | None, postal_code: str | None, day: date,
                channel: str, purpose: str, destination_kind: str | None) -> tuple[Rule, ...]:
    """The rules that apply to a request of this shape on this local day (memoised per
    policy object: a policy is immutable)."""
    entry = _APPLICABLE.get(id(policy))
    if entry is None or entry[0] is not policy:
        entry = _APPLICABLE[id(policy)] = (policy, {})
    cache = entry[1]
    key = (region, postal_code, day, channel, purpose, destination_kind)
    rules = cache.get(key)
    if rules is None:
        if len(cache) > 4096:
            cache.clear()
        rules = cache[key] = tuple(
            rule for rule in policy.rules_for(region, postal_code)
            if rule.in_force(day) and rule.covers(channel, purpose, destination_kind))
    return rules


def _active_statuses(rule: Rule, state: DebtorState, request: ContactRequest) -> list[str]:
    active = []
    for status in sorted(rule.params["statuses"]):
        if status in state.flags or (
            request.debt_id and f"{status}:{request.debt_id}" in state.flags
        ):
            active.append(status.replace("_", " "))
    return active


def _cooldown_until(rule: Rule, state: DebtorState, request: ContactRequest,
                    zone_name: str) -> datetime | None:
    """The end of the latest cool-down that covers the request's debt (any debt when
    the request names none), the conversation's local day being day 1."""
    latest: datetime | None = None
    for debt, seconds in state.conversations:
        if request.debt_id and debt not in (request.debt_id, "*"):
            continue
        first_day = local_date(from_epoch(seconds), zone_name)
        until = start_of_day_after(first_day, rule.params["days"], zone_name)
        latest = until if latest is None else max(latest, until)
    return latest


def period_end(check: CounterCheck, plan: Plan, counts: list[int]) -> datetime | None:
    """When a blocked counter check would pass again (None when its limit is 0)."""
    if check.limit <= 0:
        return None
    if check.period == "rolling":
        total = sum(counts)
        for k in range(1, len(counts) + 1):
            total -= counts[k - 1]
            if total < check.limit:
                return start_of_day_after(plan.local_day, k, plan.primary_zone)
        return start_of_day_after(plan.local_day, len(counts), plan.primary_zone)
    return next_period_start(plan.local_day, check.period, plan.primary_zone)
