"""PURE: (request, policy, debtor state, now) -> Plan.

A plan holds the verdicts that need no counter (quiet hours, status, opt-outs, content...),
the counter and gap checks the store must make atomically, what an allowed request sets
(gap times), and the time constraints from which the verdict computes ``retry_at``. Each
rule is planned by its kind's hook (``gatekeeper/policy/kinds/``). It never imports faust
or redis and never reads the clock.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple

from gatekeeper.counters.keys import Hasher
from gatekeeper.localtime import (
    candidate_zones,
    local_date,
    next_period_start,
    start_of_day_after,
)
from gatekeeper.model import ContactRequest, DebtorProfile, DebtorState, Reason
from gatekeeper.policy.kinds import KINDS, CounterCheck, GapCheck, Planning
from gatekeeper.policy.model import Policy, Rule

FALLBACK_ZONE = "UTC"
NO_PROFILE = DebtorProfile()

__all__ = ["CounterCheck", "GapCheck", "Plan", "make_plan", "period_end"]


class Plan(NamedTuple):
    """Immutable, and a named tuple rather than a frozen dataclass: one is made per request
    and per replan, and a tuple of fifteen fields is built in a quarter of the time."""

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
    spacings: tuple[tuple[Rule, int], ...]  # every spacing rule that applies, with its seconds
    constraints: tuple[Any, ...]  # every time-based rule in force, for retry_at
    gaps: tuple[GapCheck, ...] = ()  # every min_gap rule that holds the request
    gap_writes: tuple[str, ...] = ()  # gap fields an allowed request sets to its time

    @property
    def statically_blocked(self) -> bool:
        return bool(self.blocking)

    @property
    def spacing_seconds(self) -> int:
        """The minimum seconds since the last contact that the store must hold: the
        strictest enforcing spacing rule (0: none; shadow rules never hold a contact)."""
        return max((seconds for rule, seconds in self.spacings if not rule.shadow), default=0)


def make_plan(request: ContactRequest, policy: Policy, state: DebtorState, now: datetime,
              hasher: Hasher) -> Plan:
    # (most debtors' stored profile is empty: the request's then stands as it is)
    profile = (request.debtor if state.profile == NO_PROFILE
               else state.profile.overlay(request.debtor))
    zones = candidate_zones(request.channel, request.destination,
                            request.debtor.timezone, state.profile.timezone)
    primary = zones[0] if zones else FALLBACK_ZONE
    day = local_date(now, primary)
    planning = Planning(request=request, state=state, profile=profile, now=now, zones=zones,
                        primary_zone=primary, day=day, hasher=hasher)
    blocking: list[Reason] = []
    shadow: list[Reason] = []
    applicable, recording = _rules(policy, profile.region, profile.postal_code, day,
                                   request.channel, request.purpose, request.destination_kind)
    for rule in applicable:
        if rule.days_past_due is not None and not rule.days_past_due.contains(
                profile.days_past_due):
            continue  # the account is outside the rule's band: neither checked nor counted
        reason = KINDS[rule.kind].plan(rule, rule.params, planning)
        if reason is not None:
            (shadow if rule.shadow else blocking).append(reason)
    for rule in recording:
        record = KINDS[rule.kind].record
        if record is not None:
            record(rule, rule.params, planning)

    return Plan(
        request=request, now=now, policy_version=policy.version, profile=profile,
        zones=zones, primary_zone=primary, local_day=day, state_version=state.version,
        blocking=tuple(blocking), shadow=tuple(shadow), checks=tuple(planning.checks),
        spacings=tuple(planning.spacings), constraints=tuple(planning.constraints),
        gaps=tuple(planning.gaps), gap_writes=tuple(planning.gap_writes),
    )


_APPLICABLE: dict[int, tuple[Policy, dict[tuple[Any, ...], Rules]]] = {}
Rules = tuple[tuple[Rule, ...], tuple[Rule, ...]]  # (applicable, recording)


def _cache(policy: Policy) -> dict[tuple[Any, ...], Rules]:
    """The memo of one policy object (a policy is immutable)."""
    entry = _APPLICABLE.get(id(policy))
    if entry is None or entry[0] is not policy:
        entry = _APPLICABLE[id(policy)] = (policy, {})
    if len(entry[1]) > 4096:
        entry[1].clear()
    return entry[1]


def _rules(policy: Policy, region: str | None, postal_code: str | None, day: date,
           channel: str, purpose: str, destination_kind: str | None) -> Rules:
    """The rules that apply to a request of this shape on this local day, and those in force
    for the debtor whose kind records what an allowed request leaves (whatever the rules'
    filters: see ``Kind.record``); memoised, one look-up per request."""
    cache = _cache(policy)
    key = (region, postal_code, day, channel, purpose, destination_kind)
    found = cache.get(key)
    if found is None:
        rules = policy.rules_for(region, postal_code)
        found = cache[key] = (
            tuple(rule for rule in rules
                  if rule.in_force(day) and rule.covers(channel, purpose, destination_kind)),
            tuple(rule for rule in rules
                  if KINDS[rule.kind].record is not None and rule.in_force(day)))
    return found


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
