"""PURE: what the gate stored in a debtor's hash (``gk:{d}:c``), in words for operators.

Counter fields are ``<rule code>|<scope>|<period>`` (``plan.py`` builds them): the rule
code is a short hash of the rule's name, found again through the loaded packs; the scope
joins one part per ``per`` entry of the rule, in sorted order, and its personal parts (debt,
destination, creditor, collector) are keyed hashes that cannot be reversed, so they are
named, not shown; the period is a local day number, ``w<week>`` or ``m<month>``. Gap fields are
``t:<rule code>`` (per debtor) or ``t:<rule code>:<destination hash>``: the time of the last
contact a ``min_gap`` rule counts.

Decision records are read by ``counters/wire.py`` (``find_stored``), the one place that
knows their words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from gatekeeper.counters.keys import rule_code
from gatekeeper.counters.wire import Stored, find_stored
from gatekeeper.policy.model import Pack, Rule
from gatekeeper.timeutil import format_utc, from_epoch

EPOCH = date(1970, 1, 1)
DESTINATION_KINDS = {"mob": "mobile", "res": "residence", "wor": "work", "oth": "other"}


def rule_index(packs: Iterable[Pack]) -> dict[str, Rule]:
    """Rule code -> rule, for every rule of the packs (the first pack naming a rule wins)."""
    index: dict[str, Rule] = {}
    for pack in packs:
        for rule in pack.rules:
            index.setdefault(rule_code(rule.name), rule)
    return index


def _param(rule: Rule, name: str) -> Any:
    """A rule parameter, whether the rule keeps its parameters in a mapping or as typed
    attributes (so that this view does not depend on how a kind stores them)."""
    params = rule.params
    if isinstance(params, Mapping):
        return params.get(name)
    return getattr(params, name, None)


@dataclass(frozen=True, slots=True)
class Counter:
    rule: str  # the rule's name, or "unknown rule <code>"
    scope: str  # in words
    period: str  # local date, week or month
    count: int


def describe_counter(field: str, count: Any, rules: Mapping[str, Rule]) -> Counter:
    code, scope, period = (field.split("|") + ["", ""])[:3]
    rule = rules.get(code)
    if rule is None:
        return Counter(f"unknown rule {code} (not in the loaded packs)", f"scope {scope or '-'}",
                       _period(period, None), int(count))
    return Counter(rule.name, _scope(rule, scope), _period(period, rule), int(count))


def _scope(rule: Rule, scope: str) -> str:
    per = sorted(_param(rule, "per") or ())
    if not per:
        return "per debtor"
    parts = scope.split(".")
    if len(parts) != len(per):
        return f"scope {scope}"
    return ", ".join(_scope_part(rule, name, part) for name, part in zip(per, parts, strict=True))


def _scope_part(rule: Rule, name: str, part: str) -> str:
    """In words; a hashed value is named with the start of its hash, which tells two
    numbers (or debts) apart without revealing them."""
    if name == "destination_kind":
        return f"to {DESTINATION_KINDS.get(part, part)} destinations"
    if name == "channel":
        return f"by {part}"
    if part == "-":
        return f"no {name} given"
    noun = name
    if name == "destination":
        channels = set(rule.channels)
        noun = ("number" if channels and channels <= {"call", "sms"} else
                "e-mail address" if channels == {"email"} else
                "address" if channels and channels <= {"letter", "visit"} else "destination")
    return f"per {noun} (hashed {part[:6]})"


def _period(period: str, rule: Rule | None) -> str:
    try:
        if period.startswith("w"):
            monday = EPOCH + timedelta(days=int(period[1:]) * 7 - 3)
            return f"week of {monday.isoformat()}"
        if period.startswith("m"):
            month = int(period[1:])
            return f"{month // 12:04d}-{month % 12 + 1:02d}"
        day = (EPOCH + timedelta(days=int(period))).isoformat()
    except (ValueError, OverflowError):
        return period
    rolling = _param(rule, "rolling_days") if rule is not None else None
    return f"{day} (in {rolling}-day windows)" if rolling else day


def describe_gap(field: str, value: str, rules: Mapping[str, Rule]) -> str | None:
    """A gap field (``t:<code>[:<destination hash>]``) in words, or None for another field."""
    head, _, rest = field.partition(":")
    if head != "t" or not rest:
        return None
    code, _, target = rest.partition(":")
    rule = rules.get(code)
    name = rule.name if rule else f"unknown rule {code} (not in the loaded packs)"
    scope = f"to one destination (hashed {target[:6]})" if target else "to the debtor"
    try:
        when = format_utc(from_epoch(float(value)))
    except ValueError:
        when = value
    return f"last contact counted by {name}, {scope}: {when}"


def describe_record(stored: Stored, rules: Mapping[str, Rule]) -> list[tuple[str, str]]:
    """A decision record (``counters/wire.py`` reads it) as (label, text) lines."""
    record = stored.record
    lines = [("decision", record.decision)]
    lines.append(("evaluated at", format_utc(record.when)))
    if record.rules:
        lines.append(("blocked by", ", ".join(
            rules[c].name if c in rules else f"unknown rule {c}" for c in record.rules)))
    elif record.decision == "blocked":
        lines.append(("blocked by", "a limit, spacing or gap rule (the record keeps the counts "
                                    "and times, not the rule: see the review topic)"))
    counts = record.counts
    lines.append(("counts seen", ", ".join(str(c) for c in counts) if counts else "none"))
    last = record.last_contact
    lines.append(("last contact before", "none" if last is None else
                  format_utc(from_epoch(last))))
    if record.gaps:  # min_gap rules' last counted contacts, in the plan's order
        lines.append(("gap contacts before", ", ".join(
            "none" if t is None else format_utc(from_epoch(t)) for t in record.gap_contacts)))
    for field in stored.releasable:
        counter = describe_counter(field, 0, rules)
        lines.append(("reserved", f"{counter.rule}, {counter.scope}, {counter.period} "
                                  "(released by an outcome the rule does not count)"))
    if record.decision == "allowed":
        lines.append(("outcome", stored.outcome or "none reported yet"))
    lines.append(("content hash", record.content_hash))
    return lines


def find_record(fields: Mapping[str, str], tag: str) -> Stored | None:
    """The newest decision record of a request tag among a debtor's hash fields."""
    return find_stored(fields, tag)
