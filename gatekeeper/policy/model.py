"""The loaded policy: packs, their rules, and the base of every rule kind's parameters.

A pack is a list of rules and the debtor regions it applies to. Every rule has an id, a
kind, a citation, a plain-language description, and common filters (channels, purposes,
destination kinds, a band of days past due), optional effective dates, an optional shadow
flag and an optional ``overridable`` flag (a console reviewer may release what only such
rules blocked). Its kind's own
parameters are a frozen dataclass of the kind's module (``gatekeeper/policy/kinds/``; the
registry there lists every kind, its parameters and its meaning).

A pack may also name ``postal_codes``: prefixes of the debtor's postal code it is limited
to within its regions (a city inside a state); an unknown postal code gets the pack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Span:
    """A local time span [start, end) within one day; end may be 24:00."""

    start: time
    end_minutes: int  # minutes after midnight, up to 1440

    @property
    def start_minutes(self) -> int:
        return self.start.hour * 60 + self.start.minute


@dataclass(frozen=True, slots=True)
class Band:
    """A band of days past due, both ends included (None: open). A debtor whose days past
    due are unknown is in every band: the rule applies (a rule only ever holds a contact
    back, so applying it is the careful side)."""

    min: int | None = None
    max: int | None = None

    def contains(self, days_past_due: int | None) -> bool:
        if days_past_due is None:
            return True
        return ((self.min is None or days_past_due >= self.min)
                and (self.max is None or days_past_due <= self.max))

    def words(self) -> str:
        if self.max is None:
            return f"{self.min} days past due or more"
        if self.min is None or self.min == 0:
            return f"up to {self.max} days past due"
        return f"{self.min} to {self.max} days past due"


@dataclass(frozen=True, slots=True)
class Params:
    """A rule kind's parameters; each kind's module subclasses it with typed fields."""

    @property
    def window_days(self) -> int:
        """The local days this rule looks back over (the counters live that long)."""
        return 1

    def get(self, name: str, default: Any = None) -> Any:
        """A parameter by its YAML name, for code that treats every kind alike."""
        return getattr(self, name, default)


@dataclass(frozen=True, slots=True)
class Rule:
    pack: str
    id: str
    kind: str
    citation: str
    description: str = ""
    channels: frozenset[str] = frozenset()  # empty: every channel
    purposes: frozenset[str] = frozenset()  # empty: every purpose
    destination_kinds: frozenset[str] = frozenset()  # empty: every kind
    shadow: bool = False
    overridable: bool = False  # a reviewer may release what it alone blocked (console)
    effective_from: date | None = None
    effective_until: date | None = None
    days_past_due: Band | None = None  # None: at any days past due
    params: Params = field(default_factory=Params, hash=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.pack}/{self.id}"

    def in_force(self, local_day: date) -> bool:
        if self.effective_from is not None and local_day < self.effective_from:
            return False
        return self.effective_until is None or local_day <= self.effective_until

    def covers(self, channel: str, purpose: str, destination_kind: str | None) -> bool:
        if self.channels and channel not in self.channels:
            return False
        if self.purposes and purpose not in self.purposes:
            return False
        return not (
            self.destination_kinds
            and (destination_kind or "other") not in self.destination_kinds
        )


@dataclass(frozen=True, slots=True)
class Pack:
    name: str
    title: str
    applies_to: tuple[str, ...]
    rules: tuple[Rule, ...]
    source: str
    digest: str
    description: str = ""
    sources: tuple[str, ...] = ()
    readings: tuple[str, ...] = ()
    postal_codes: tuple[str, ...] = ()  # normalised prefixes; empty: every postal code

    def applies(self, region: str | None, postal_code: str | None = None) -> bool:
        """``*`` applies everywhere; ``US`` covers ``US`` and ``US-MA``; an unknown region
        gets every pack (the conservative reading). With ``postal_codes``, the debtor's
        postal code must start with one of them; an unknown postal code gets the pack."""
        if not self._applies_region(region):
            return False
        if not self.postal_codes or not postal_code:
            return True
        normal = postal_code.replace(" ", "").replace("-", "").upper()
        return any(normal.startswith(prefix) for prefix in self.postal_codes)

    def _applies_region(self, region: str | None) -> bool:
        if region is None or "*" in self.applies_to:
            return True
        return any(region == r or region.startswith(r + "-") for r in self.applies_to)


@dataclass(frozen=True, slots=True)
class Policy:
    packs: tuple[Pack, ...]
    version: str  # names and content hash, carried in every decision

    def rules_for(self, region: str | None, postal_code: str | None = None) -> list[Rule]:
        return [rule for pack in self.packs if pack.applies(region, postal_code)
                for rule in pack.rules]

    @property
    def max_window_days(self) -> int:
        longest = 1
        for pack in self.packs:
            for rule in pack.rules:
                longest = max(longest, rule.params.window_days)
        return longest
