"""``min_gap``: at least ``hours`` (or ``minutes``) between contacts, per debtor or per
destination.

The rule holds the channels of its ``channels`` filter (every channel when it names none)
and counts the allowed contacts on its ``after`` channels (by default the channels it
holds): each one, whatever its purpose or outcome, starts a new gap. The gap is elapsed
time, not wall-clock time (a DST change does not shorten or lengthen it, local midnight
does not end it), and exactly ``hours`` after the last counted contact is allowed again.

The store keeps the last counted contact per rule and scope in the debtor's hash (field
``t:<rule code>`` per debtor, ``t:<rule code>:<destination hash>`` per destination);
``decide.lua`` checks it and sets it in the same atomic step, and a rebuild puts it back
(``restore.lua``). Contacts on ``after`` channels that the rule does not hold are counted
through the kind's ``record`` hook, which runs whatever the rule's filters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gatekeeper.model import CHANNELS, Reason
from gatekeeper.policy import checks
from gatekeeper.policy.checks import Ctx, Param
from gatekeeper.policy.kinds.base import GapCheck, Kind, Planning, code_of
from gatekeeper.policy.model import Params, Rule

DAY = 86400
SCOPES = ("debtor", "destination")
NOUNS = {"call": "call", "sms": "text", "email": "email", "letter": "letter", "visit": "visit"}


@dataclass(frozen=True, slots=True)
class MinGapParams(Params):
    seconds: int
    unit: str  # hours | minutes, as the pack gives the gap
    after: frozenset[str] = frozenset()  # empty: the channels the rule holds
    per: str = "debtor"  # debtor | destination

    @property
    def amount(self) -> int:
        """The gap in the pack's unit (3 for ``hours: 3``)."""
        return self.seconds // (3600 if self.unit == "hours" else 60)

    @property
    def window_days(self) -> int:
        return max(1, math.ceil(self.seconds / DAY))


def _build(ctx: Ctx, path: str, values: dict[str, Any]) -> MinGapParams:
    given = [unit for unit in ("hours", "minutes") if unit in values]
    if len(given) != 1:
        raise ctx.fail(path, "expected exactly one of hours or minutes (the gap), found "
                             + (" and ".join(given) if given else "neither"))
    unit = given[0]
    seconds = values[unit] * (3600 if unit == "hours" else 60)
    return MinGapParams(seconds=seconds, unit=unit, after=values.get("after", frozenset()),
                        per=values.get("per", "debtor"))


def counted_channels(rule: Rule, p: MinGapParams) -> frozenset[str]:
    """The channels whose allowed contacts start a gap."""
    return p.after or rule.channels or frozenset(CHANNELS)


@lru_cache(maxsize=256)  # one per rule: worded once, not per request
def _channel_words(channels: frozenset[str]) -> str:
    names = [NOUNS[c] for c in CHANNELS if c in channels]
    if len(names) == len(CHANNELS):
        return "contact"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _field(rule: Rule, p: MinGapParams, planning: Planning) -> str:
    code = code_of(rule.name)
    if p.per == "destination":
        request = planning.request
        return f"t:{code}:{planning.hasher.destination(request.channel, request.destination)[:12]}"
    return f"t:{code}"


def _plan(rule: Rule, p: MinGapParams, planning: Planning) -> Reason | None:
    scope = "this destination" if p.per == "destination" else "this debtor"
    planning.gaps.append(GapCheck(rule, _field(rule, p, planning), p.seconds,
                                  f"{_channel_words(counted_channels(rule, p))} to {scope}"))
    return None


def _record(rule: Rule, p: MinGapParams, planning: Planning) -> None:
    if planning.request.channel in counted_channels(rule, p):
        planning.gap_writes.append(_field(rule, p, planning))


def _describe(p: MinGapParams) -> str:
    what = (f"allowed {_channel_words(p.after)}" if p.after
            else "allowed contact on the channels above")
    scope = ("to the same number or address" if p.per == "destination"
             else "to the debtor, on any number or address")
    unit = p.unit if p.amount != 1 else p.unit[:-1]
    return (f"none within {p.amount} {unit} after the last {what} {scope}, whatever its "
            f"purpose (exactly {p.amount} {unit} later is allowed)")


KIND: Kind[MinGapParams] = Kind(
    name="min_gap",
    meaning="one of `hours: N` or `minutes: N`: none within that time (elapsed, across DST "
            "and local midnight) after the last allowed contact on the `after` channels "
            "(default: the channels the rule holds), per debtor or per destination; exactly "
            "the gap later is allowed",
    params={
        "hours": Param(False, checks.positive, "N"),
        "minutes": Param(False, checks.positive, "N"),
        "after": Param(False, checks.choices(CHANNELS), checks.listed(CHANNELS)),
        "per": Param(False, checks.one_of(SCOPES), checks.either(SCOPES)),
    },
    build=_build,
    describe=_describe,
    plan=_plan,
    record=_record,
)
