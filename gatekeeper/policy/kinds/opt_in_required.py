"""``opt_in_required``: no contact on the rule's channels unless the debtor opted in to the
channel (an ``opt_in`` event, for the channel or one destination, not undone by a later
opt-out), except for ``except_purposes``."""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper.model import Reason
from gatekeeper.policy import checks
from gatekeeper.policy.checks import PURPOSES, Param
from gatekeeper.policy.kinds.base import Kind, Planning, construct, except_purposes, reason
from gatekeeper.policy.model import Params, Rule


@dataclass(frozen=True, slots=True)
class OptInRequiredParams(Params):
    except_purposes: frozenset[str] = frozenset()


def _describe(p: OptInRequiredParams) -> str:
    return "only after the debtor opted in to the channel" + except_purposes(p.except_purposes)


def _opted_in(planning: Planning) -> bool:
    request = planning.request
    target = planning.hasher.destination(request.channel, request.destination)
    wanted = {"opt_in:*", f"opt_in:{request.channel}", f"opt_in:{request.channel}:{target}"}
    return bool(wanted & planning.state.flags)


def _plan(rule: Rule, p: OptInRequiredParams, planning: Planning) -> Reason | None:
    request = planning.request
    if request.purpose in p.except_purposes or _opted_in(planning):
        return None
    return reason(rule, f"the debtor has not opted in to {request.channel}")


KIND: Kind[OptInRequiredParams] = Kind(
    name="opt_in_required",
    meaning="none on the rule's channels until the debtor opted in (an `opt_in` event for the "
            "channel or the destination), except for `except_purposes`",
    params={"except_purposes": Param(False, checks.choices(PURPOSES), checks.listed(PURPOSES))},
    build=construct(OptInRequiredParams),
    describe=_describe,
    plan=_plan,
)
