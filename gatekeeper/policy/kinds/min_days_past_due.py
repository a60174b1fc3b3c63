"""``min_days_past_due``: only at ``days`` or more past due (unknown: not yet)."""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper.model import Reason
from gatekeeper.policy import checks
from gatekeeper.policy.checks import Param
from gatekeeper.policy.kinds.base import Kind, Planning, construct, reason
from gatekeeper.policy.model import Params, Rule


@dataclass(frozen=True, slots=True)
class MinDaysPastDueParams(Params):
    days: int


def _plan(rule: Rule, p: MinDaysPastDueParams, planning: Planning) -> Reason | None:
    past_due = planning.profile.days_past_due
    if past_due is None:
        return reason(rule, f"days past due unknown; {p.days} required", limit=p.days)
    if past_due < p.days:
        return reason(rule, f"{past_due} days past due; {p.days} required", limit=p.days,
                      observed=past_due)
    return None


KIND: Kind[MinDaysPastDueParams] = Kind(
    name="min_days_past_due",
    meaning="only at that many days past due or more",
    params={"days": Param(True, checks.count, "N")},
    build=construct(MinDaysPastDueParams),
    describe=lambda p: f"at least {p.days} days past due",
    plan=_plan,
)
