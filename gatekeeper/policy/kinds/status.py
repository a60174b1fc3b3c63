"""``status``: blocked while the debtor has one of ``statuses`` (attorney representation
and the others may be per debt; ``vulnerable`` is the person's), except for
``except_purposes``. The rule's filters (channels, purposes, destination kinds) are the
pack's choice of what a status holds: ``vulnerable`` on ``[visit]`` stops visits only."""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper.model import Reason
from gatekeeper.policy import checks
from gatekeeper.policy.checks import PURPOSES, STATUSES, Param
from gatekeeper.policy.kinds.base import Kind, Planning, construct, except_purposes, reason
from gatekeeper.policy.model import Params, Rule


@dataclass(frozen=True, slots=True)
class StatusParams(Params):
    statuses: frozenset[str]
    except_purposes: frozenset[str] = frozenset()


def _describe(p: StatusParams) -> str:
    return ", ".join(sorted(p.statuses)) + except_purposes(p.except_purposes)


def _plan(rule: Rule, p: StatusParams, planning: Planning) -> Reason | None:
    request = planning.request
    if request.purpose in p.except_purposes:
        return None
    flags = planning.state.flags
    if not flags:
        return None  # no status at all (most debtors)
    active = [status.replace("_", " ") for status in sorted(p.statuses)
              if status in flags or (request.debt_id and f"{status}:{request.debt_id}" in flags)]
    return reason(rule, "debtor status: " + ", ".join(active)) if active else None


KIND: Kind[StatusParams] = Kind(
    name="status",
    meaning="blocked while a status holds (attorney representation may be per debt; "
            "`vulnerable`, set and cleared by `vulnerable` events, is the person's), except for "
            "`except_purposes`",
    params={
        "statuses": Param(True, checks.choices(STATUSES), checks.listed(STATUSES)),
        "except_purposes": Param(False, checks.choices(PURPOSES), checks.listed(PURPOSES)),
    },
    build=construct(StatusParams),
    describe=_describe,
    plan=_plan,
)
