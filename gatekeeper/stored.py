"""PURE: a decision on record in a debtor's hash (``gk:{d}:c``), in words for operators, and
the rule index both views name rules with (a debtor's counters and state: ``debtor_view.py``).

Decision records are read by ``counters/wire.py`` (``find_stored``), the one place that
knows their words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gatekeeper.counters.keys import rule_code
from gatekeeper.counters.wire import Stored, find_stored
from gatekeeper.debtor_view import describe_counter
from gatekeeper.policy.model import Pack, Rule
from gatekeeper.timeutil import format_utc, from_epoch


def rule_index(packs: Iterable[Pack]) -> dict[str, Rule]:
    """Rule code -> rule, for every rule of the packs (the first pack naming a rule wins)."""
    index: dict[str, Rule] = {}
    for pack in packs:
        for rule in pack.rules:
            index.setdefault(rule_code(rule.name), rule)
    return index


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
