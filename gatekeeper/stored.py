"""PURE: what the gate stored in a debtor's hash (``gk:{d}:c``), in words for operators.

Counter fields are ``<rule code>|<scope>|<period>`` (``plan.py`` builds them): the rule
code is a short hash of the rule's name, found again through the loaded packs; the scope
joins one part per ``per`` entry of the rule, in sorted order, and its personal parts (debt,
destination, creditor, collector) are keyed hashes that cannot be reversed, so they are
named, not shown; the period is a local day number, ``w<week>`` or ``m<month>``.

Decision records are ``r<generation>:<request tag>`` -> eight space-separated words, as
``counters/lua/decide.lua`` documents them (status, time, content hash, counts, last contact,
blocking rule codes, releasable fields, outcome).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from gatekeeper.counters.keys import rule_code
from gatekeeper.policy.model import Pack, Rule
from gatekeeper.timeutil import format_utc, from_epoch

EPOCH = date(1970, 1, 1)
DESTINATION_KINDS = {"mob": "mobile", "res": "residence", "wor": "work", "oth": "other"}
RECORD_WORDS = ("status", "time", "content", "counts", "last", "rules", "releasable",
                "outcome")


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


@dataclass(frozen=True, slots=True)
class Record:
    generation: int
    words: dict[str, str]


def find_record(fields: Mapping[str, str], tag: str) -> Record | None:
    """The newest decision record of a request tag among a debtor's hash fields."""
    found = []
    for name, value in fields.items():
        head, _, rest = name.partition(":")
        if rest == tag and head.startswith("r") and head[1:].isdigit():
            found.append(Record(int(head[1:]), dict(zip(RECORD_WORDS, value.split(" "),
                                                         strict=False))))
    return max(found, key=lambda r: r.generation, default=None)


def describe_record(record: Record, rules: Mapping[str, Rule]) -> list[tuple[str, str]]:
    """The record as (label, text) lines."""
    words = record.words
    status = {"a": "allowed", "b": "blocked"}.get(words.get("status", ""), "?")
    lines = [("decision", status)]
    if words.get("time"):
        lines.append(("evaluated at", format_utc(from_epoch(float(words["time"])))))
    codes = [c for c in words.get("rules", "-").split(",") if c not in ("", "-")]
    if codes:
        lines.append(("blocked by", ", ".join(
            rules[c].name if c in rules else f"unknown rule {c}" for c in codes)))
    elif status == "blocked":
        lines.append(("blocked by", "a limit or spacing rule (the record keeps the counts, "
                                    "not the rule: see the review topic)"))
    counts = words.get("counts", "-")
    lines.append(("counts seen", "none" if counts == "-" else counts.replace(",", ", ")))
    last = words.get("last", "-")
    lines.append(("last contact before", "none" if last in ("-", "") else
                  format_utc(from_epoch(float(last)))))
    releasable = [f for f in words.get("releasable", "-").split(",") if f not in ("", "-")]
    for field in releasable:
        counter = describe_counter(field, 0, rules)
        lines.append(("reserved", f"{counter.rule}, {counter.scope}, {counter.period} "
                                  "(released by an outcome the rule does not count)"))
    outcome = words.get("outcome", "-")
    if status == "allowed":
        lines.append(("outcome", "none reported yet" if outcome == "-" else outcome))
    lines.append(("content hash", words.get("content", "?")))
    return lines
