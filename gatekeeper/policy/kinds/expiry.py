"""``expiry``: a request evaluated after its ``not_after`` is not sent."""

from __future__ import annotations

from gatekeeper.model import Reason
from gatekeeper.policy.kinds.base import Kind, Planning, construct, reason
from gatekeeper.policy.model import Params, Rule
from gatekeeper.timeutil import format_utc


def _plan(rule: Rule, p: Params, planning: Planning) -> Reason | None:
    not_after = planning.request.not_after
    if not_after is not None and planning.now > not_after:
        return reason(rule, "expired at " + format_utc(not_after))
    return None


KIND: Kind[Params] = Kind(
    name="expiry",
    meaning="a request evaluated after its `not_after`",
    params={},
    build=construct(Params),
    describe=lambda p: "",
    plan=_plan,
)
