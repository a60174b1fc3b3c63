"""A pack as a compliance officer reads it: rule, meaning, numbers, citation."""

from __future__ import annotations

from gatekeeper.policy.model import WEEKDAYS, Pack, Rule


def _numbers(rule: Rule) -> str:
    p = rule.params
    if rule.kind == "limit":
        window = p["window"]
        span = (f"{window['rolling_days']} consecutive local days" if "rolling_days" in window
                else f"local calendar {window['calendar']}")
        per = " per " + ", ".join(sorted(p["per"])) if p.get("per") else " per debtor"
        counts = f"; counts outcomes {', '.join(sorted(p['counts']))}" if p.get("counts") else ""
        consent = "; contacts under direct prior consent are not counted" \
            if p.get("except_consent") else ""
        return f"max {p['max']} in a {span}{per}{counts}{consent}"
    if rule.kind == "hours":
        days = []
        for day in WEEKDAYS:
            spans = p["windows"].get(day, ())
            text = ", ".join(f"{s.start.strftime('%H:%M')}-{s.end_minutes // 60:02d}:"
                             f"{s.end_minutes % 60:02d}" for s in spans) or "none"
            days.append(f"{day} {text}")
        extra = "; none on statutory holidays" if p.get("holidays") == "block" else ""
        if p.get("holiday_categories"):
            extra += f" ({', '.join(sorted(p['holiday_categories']))} calendars)"
        extra += "; lifted by direct prior consent" if p.get("except_consent") else ""
        return "; ".join(days) + extra
    if rule.kind == "opt_in_required":
        exceptions = ", ".join(sorted(p.get("except_purposes", ())))
        return "only after the debtor opted in to the channel" + (
            f"; except purposes {exceptions}" if exceptions else "")
    if rule.kind in ("status", "opt_out"):
        statuses = ", ".join(sorted(p.get("statuses", ()))) or "channel/destination opt-outs"
        exceptions = ", ".join(sorted(p.get("except_purposes", ())))
        return statuses + (f"; except purposes {exceptions}" if exceptions else "")
    if rule.kind == "min_days_past_due":
        return f"at least {p['days']} days past due"
    if rule.kind == "content":
        return "must state " + ", ".join(sorted(p["fields"]))
    if rule.kind == "spacing":
        return f"at least {p['min_days']} days between contacts ({p['when']})"
    if rule.kind == "cooldown":
        consent = "; lifted by direct prior consent" if p.get("except_consent") else ""
        return (f"none for {p['days']} consecutive days after a {p['after']} "
                f"(its day is day 1){consent}")
    return ""


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
        lines.append(f"[{rule.id}] ({rule.kind}{'; ' + '; '.join(flags) if flags else ''})")
        if rule.description:
            lines.append(f"    {rule.description}")
        lines.append(f"    applies to: {'; '.join(scope) or 'every contact'}")
        lines.append(f"    rule: {_numbers(rule)}")
        lines.append(f"    citation: {rule.citation}")
    return "\n".join(lines)
