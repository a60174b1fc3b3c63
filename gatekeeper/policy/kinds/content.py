"""``content``: written notices must carry ``fields``."""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper.model import Reason
from gatekeeper.policy import checks
from gatekeeper.policy.checks import CONTENT_FIELDS, Param
from gatekeeper.policy.kinds.base import Kind, Planning, construct, reason
from gatekeeper.policy.model import Params, Rule


@dataclass(frozen=True, slots=True)
class ContentParams(Params):
    fields: frozenset[str]


def _plan(rule: Rule, p: ContentParams, planning: Planning) -> Reason | None:
    content = planning.request.content or {}
    missing = [f for f in sorted(p.fields) if content.get(f) in (None, "", [])]
    return reason(rule, "the notice lacks " + ", ".join(missing)) if missing else None


KIND: Kind[ContentParams] = Kind(
    name="content",
    meaning="written notices must carry these content fields",
    params={"fields": Param(True, checks.choices(CONTENT_FIELDS), checks.listed(CONTENT_FIELDS))},
    build=construct(ContentParams),
    describe=lambda p: "must state " + ", ".join(sorted(p.fields)),
    plan=_plan,
)
