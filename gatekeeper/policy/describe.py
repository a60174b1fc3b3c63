"""A pack as a compliance officer reads it: rule, meaning, numbers, citation."""

from __future__ import annotations

from gatekeeper.policy.kinds import KINDS
from gatekeeper.policy.model import Pack


def describe(pack: Pack) -> str:
    lines = [f"{pack.name}: {pack.title}", f"applies to: {', '.join(pack.applies_to)}"]
    if pack.postal_codes:
        lines.append(f"postal codes starting: {', '.join(pack.postal_codes)} "
                     "(an unknown postal code gets the pack)")
    if pack.description:
        lines.append(pack.description.strip())
    for source in pack.sources:
        lines.append(f"source: {source}")
    for reading in pack.readings:
        lines.append(f"reading: {reading}")
    lines.append("")
    for rule in pack.rules:
        flags = []
        if rule.shadow:
            flags.append("SHADOW (reported, never blocks)")
        if rule.overridable:
            flags.append("overridable: a reviewer may release")
        if rule.effective_from or rule.effective_until:
            start, end = rule.effective_from or "...", rule.effective_until or "..."
            flags.append(f"in force {start} to {end}")
        scope = []
        if rule.channels:
            scope.append("channels " + ", ".join(sorted(rule.channels)))
        if rule.purposes:
            scope.append("purposes " + ", ".join(sorted(rule.purposes)))
        if rule.destination_kinds:
            scope.append("destinations " + ", ".join(sorted(rule.destination_kinds)))
        if rule.days_past_due is not None:
            scope.append(rule.days_past_due.words() + " (or unknown)")
        lines.append(f"[{rule.id}] ({rule.kind}{'; ' + '; '.join(flags) if flags else ''})")
        if rule.description:
            lines.append(f"    {rule.description}")
        lines.append(f"    applies to: {'; '.join(scope) or 'every contact'}")
        lines.append(f"    rule: {KINDS[rule.kind].describe(rule.params)}")
        lines.append(f"    citation: {rule.citation}")
    return "\n".join(lines)
