"""``spacing``: at least ``min_days`` between contacts, while ``when`` holds (hardship, or
always). The store checks the time of the debtor's last allowed contact; every spacing
rule that applies is reported, and the store holds the strictest."""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper.model import Reason
from gatekeeper.policy import checks
from gatekeeper.policy.checks import Param
from gatekeeper.policy.kinds.base import Kind, Planning, construct
from gatekeeper.policy.model import Params, Rule

DAY = 86400


@dataclass(frozen=True, slots=True)
class SpacingParams(Params):
    min_days: int
    when: str  # hardship | always

    @property
    def window_days(self) -> int:
        return self.min_days


def _plan(rule: Rule, p: SpacingParams, planning: Planning) -> Reason | None:
    if p.when == "always" or planning.profile.hardship:
        planning.spacings.append((rule, p.min_days * DAY))
    return None


KIND: Kind[SpacingParams] = Kind(
    name="spacing",
    meaning="at least this long since the debtor's last allowed contact; when several "
            "spacing rules apply, each holds",
    params={
        "min_days": Param(True, checks.positive, "N"),
        "when": Param(True, checks.one_of(("hardship", "always")), "hardship\\|always"),
    },
    build=construct(SpacingParams),
    describe=lambda p: f"at least {p.min_days} days between contacts ({p.when})",
    plan=_plan,
)
