"""``cooldown``: no contact for ``days`` consecutive local days after a conversation about
the debt (the conversation's local day is day 1); ``except_consent`` lifts it under direct
prior consent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gatekeeper.localtime import NotBefore, local_date, start_of_day_after
from gatekeeper.model import Reason
from gatekeeper.policy import checks
from gatekeeper.policy.checks import Param
from gatekeeper.policy.kinds.base import Kind, Planning, construct, reason
from gatekeeper.policy.model import Params, Rule
from gatekeeper.timeutil import from_epoch


@dataclass(frozen=True, slots=True)
class CooldownParams(Params):
    days: int
    after: str  # conversation
    except_consent: bool = False

    @property
    def window_days(self) -> int:
        return self.days


def cooldown_until(p: CooldownParams, planning: Planning) -> datetime | None:
    """The end of the latest cool-down that covers the request's debt (any debt when the
    request names none), the conversation's local day being day 1."""
    debt_id, zone_name = planning.request.debt_id, planning.primary_zone
    latest: datetime | None = None
    for debt, seconds in planning.state.conversations:
        if debt_id and debt not in (debt_id, "*"):
            continue
        first_day = local_date(from_epoch(seconds), zone_name)
        until = start_of_day_after(first_day, p.days, zone_name)
        latest = until if latest is None else max(latest, until)
    return latest


def _plan(rule: Rule, p: CooldownParams, planning: Planning) -> Reason | None:
    if p.except_consent and planning.consented():
        return None
    until = cooldown_until(p, planning)
    if until is None:
        return None
    planning.constrain(rule, NotBefore(until))
    if planning.now < until:
        return reason(rule, f"a conversation about this debt less than {p.days} days ago",
                      retry_at=until)
    return None


def _describe(p: CooldownParams) -> str:
    consent = "; lifted by direct prior consent" if p.except_consent else ""
    return f"none for {p.days} consecutive days after a {p.after} (its day is day 1){consent}"


KIND: Kind[CooldownParams] = Kind(
    name="cooldown",
    meaning="none for N consecutive local days after a conversation about the debt (its day "
            "is day 1)",
    params={
        "days": Param(True, checks.positive, "N"),
        "after": Param(True, checks.one_of(("conversation",)), "conversation"),
        "except_consent": Param(False, checks.boolean, "true"),
    },
    build=construct(CooldownParams),
    describe=_describe,
    plan=_plan,
)
