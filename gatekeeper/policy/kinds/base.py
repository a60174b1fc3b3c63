"""What every rule kind provides, and what its plan hook reads and adds to.

A kind (``Kind``) is its name, its meaning in plain words, its YAML keys (``Param``), a
builder of its frozen parameters, the sentence ``policy show`` prints for them, and its
plan hook. The hook sees one request through ``Planning`` (the request, the debtor's state
and profile, the candidate zones, the local day, the time) and answers the reason it
blocks for, if any, without waiting on the store; it may also add counter checks for the
store, gap checks, time constraints for ``retry_at`` and spacings. Pure: no clock, no I/O.

A kind may also have a ``record`` hook: what an allowed request leaves in the store for the
rule (a ``min_gap`` rule's last-contact time). It runs for every rule of the debtor's packs
in force, whatever the rule's filters, since a rule may count contacts it does not hold
(a gap that holds calls may start at a text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar

from gatekeeper.counters.keys import Hasher, rule_code
from gatekeeper.model import ContactRequest, DebtorProfile, DebtorState, Reason
from gatekeeper.policy.checks import Ctx, Param
from gatekeeper.policy.model import Params, Rule
from gatekeeper.timeutil import format_retry

P = TypeVar("P", bound=Params)


@dataclass(frozen=True, slots=True)
class CounterCheck:
    """Sum ``fields``; the request passes if the sum is below ``limit``; if it is allowed,
    ``increment`` is counted. Rolling windows list their days oldest first."""

    rule: Rule
    fields: tuple[str, ...]
    increment: str
    limit: int
    period: str  # day | week | month | rolling
    what: str  # plain words for the message: "calls to this number"

    @property
    def shadow(self) -> bool:
        return self.rule.shadow


@dataclass(frozen=True, slots=True)
class GapCheck:
    """The request passes if at least ``seconds`` have passed since the time kept in
    ``field`` (the last allowed contact the rule counts, in its scope); exactly ``seconds``
    later passes."""

    rule: Rule
    field: str
    seconds: int
    what: str  # plain words for the message: "call, sms or visit to this debtor"

    @property
    def shadow(self) -> bool:
        return self.rule.shadow


@dataclass(slots=True)
class Planning:
    """One request being planned: what a plan hook reads, and what it adds to."""

    request: ContactRequest
    state: DebtorState
    profile: DebtorProfile  # the stored profile overlaid by the request's
    now: datetime
    zones: tuple[str, ...]  # candidate time zones (empty: unknown)
    primary_zone: str  # the zone of calendar periods
    day: date  # the local date in the primary zone
    hasher: Hasher
    checks: list[CounterCheck] = field(default_factory=list)
    constraints: list[Any] = field(default_factory=list)  # every time rule in force
    spacings: list[tuple[Rule, int]] = field(default_factory=list)  # rule, seconds
    gaps: list[GapCheck] = field(default_factory=list)
    gap_writes: list[str] = field(default_factory=list)  # set to now if it is allowed
    _consented: bool | None = None

    def consented(self) -> bool:
        """Direct prior consent (a ``consent`` event) holds for this channel and debt."""
        if self._consented is None:
            seconds = self.now.timestamp()
            request = self.request
            wanted = {f"{c}:{d}" for c in (request.channel, "*")
                      for d in (request.debt_id or "*", "*")}
            self._consented = any(key in wanted and until >= seconds
                                  for key, until in self.state.consents)
        return self._consented

    def constrain(self, rule: Rule, *constraints: Any) -> None:
        """Time constraints for ``retry_at``; a shadow rule's never hold a request back."""
        if not rule.shadow:
            self.constraints.extend(constraints)


Build = Callable[[Ctx, str, dict[str, Any]], P]


@dataclass(frozen=True, slots=True)
class Kind(Generic[P]):
    name: str
    meaning: str  # plain words, for the README's kinds table
    params: Mapping[str, Param]  # the kind's YAML keys, besides the common ones
    build: Build[P]  # checked values -> parameters (and checks across keys)
    describe: Callable[[P], str]  # the numbers, as ``policy show`` words them
    plan: Callable[[Rule, P, Planning], Reason | None]
    record: Callable[[Rule, P, Planning], None] | None = None  # see the module docstring


def construct(cls: Callable[..., P]) -> Build[P]:
    """A builder that passes the checked values to the parameters' constructor."""
    return lambda ctx, path, values: cls(**values)


def reason(rule: Rule, message: str, *, retry_at: datetime | None = None,
           limit: int | None = None, observed: int | None = None) -> Reason:
    return Reason(rule=rule.name, kind=rule.kind, message=message, limit=limit,
                  observed=observed, retry_at=format_retry(retry_at),
                  citation=rule.citation)


def except_purposes(purposes: frozenset[str]) -> str:
    """The describe suffix for ``except_purposes``."""
    listed = ", ".join(sorted(purposes))
    return f"; except purposes {listed}" if listed else ""


@lru_cache(maxsize=4096)
def code_of(rule_name: str) -> str:
    """``rule_code``, remembered: counter and gap fields ask for it on every request."""
    return rule_code(rule_name)
