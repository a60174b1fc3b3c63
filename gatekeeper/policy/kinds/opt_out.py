"""``opt_out``: honour channel and destination opt-outs, except for ``except_purposes``."""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper.model import Reason
from gatekeeper.policy import checks
from gatekeeper.policy.checks import PURPOSES, Param
from gatekeeper.policy.kinds.base import Kind, Planning, construct, except_purposes, reason
from gatekeeper.policy.model import Params, Rule


@dataclass(frozen=True, slots=True)
class OptOutParams(Params):
    except_purposes: frozenset[str] = frozenset()


def _describe(p: OptOutParams) -> str:
    return "channel/destination opt-outs" + except_purposes(p.except_purposes)


def _plan(rule: Rule, p: OptOutParams, planning: Planning) -> Reason | None:
    request = planning.request
    if request.purpose in p.except_purposes:
        return None
    opt_outs = planning.state.opt_outs
    if not opt_outs:
        return None  # (most debtors)
    if request.channel in opt_outs:
        return reason(rule, f"the debtor opted out of {request.channel}")
    target = planning.hasher.destination(request.channel, request.destination)
    if f"{request.channel}:{target}" in opt_outs:
        return reason(rule, f"the debtor opted out of {request.channel} to this destination")
    return None


KIND: Kind[OptOutParams] = Kind(
    name="opt_out",
    meaning="channel and destination opt-outs, except for `except_purposes`",
    params={"except_purposes": Param(False, checks.choices(PURPOSES), checks.listed(PURPOSES))},
    build=construct(OptOutParams),
    describe=_describe,
    plan=_plan,
)
