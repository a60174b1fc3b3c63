"""Operator views of Redis: a debtor's stored state and counters, and the decision on record
for one request. Each returns the text to print, or None when nothing is stored."""

from __future__ import annotations

from typing import Any

from gatekeeper.counters.keys import counters_key, request_tag, state_key
from gatekeeper.counters.store import Store
from gatekeeper.errors import PolicyError
from gatekeeper.policy import load_pack, load_policy
from gatekeeper.policy.model import Pack, Rule
from gatekeeper.settings import Settings
from gatekeeper.state import state_from_hash
from gatekeeper.stored import (
    describe_counter,
    describe_gap,
    describe_record,
    find_record,
    rule_index,
)
from gatekeeper.tail import REVIEW_HEADER as HEADER  # the demo prints review rows too
from gatekeeper.tail import review_row
from gatekeeper.timeutil import format_utc, from_epoch

__all__ = ["HEADER", "review_row", "show_debtor", "show_decision", "known_rules"]


def known_rules(policy: str) -> tuple[dict[str, Rule], str | None]:
    """Rule code -> rule from the configured packs, then every shipped pack; and a note when
    the configured packs cannot be loaded (their rules then show as unknown codes)."""
    from gatekeeper.policy.catalog import pack_names

    packs: list[Pack] = []
    note = None
    try:
        packs += load_policy(policy).packs
    except PolicyError as exc:
        note = f"(the configured packs could not be loaded: {exc}; rule names come from the " \
               "shipped packs only)"
    for name in pack_names():
        try:
            packs.append(load_pack(name))
        except PolicyError:
            continue
    return rule_index(packs), note


async def _read(settings: Settings, debtor_id: str) -> tuple[dict[str, str], dict[str, str]]:
    store = Store.from_url(settings.redis)
    try:
        state_fields, stored = await store.read([("HGETALL", state_key(debtor_id)),
                                                 ("HGETALL", counters_key(debtor_id))])
    finally:
        await store.close()
    return state_fields, stored


async def show_debtor(settings: Settings, debtor_id: str) -> str | None:
    state_fields, stored = await _read(settings, debtor_id)
    if not state_fields and not stored:
        return None
    rules, note = known_rules(settings.policy)
    state = state_from_hash(state_fields)
    profile = state.profile
    lines = [f"debtor {debtor_id}  (state version {state.version})",
             f"  region {profile.region or '-'}  timezone {profile.timezone or '-'}  "
             f"days past due {profile.days_past_due if profile.days_past_due is not None else '-'}"
             f"  hardship {'yes' if profile.hardship else 'no'}",
             f"  status: {', '.join(sorted(state.flags)) or 'none'}",
             f"  opt-outs: {', '.join(sorted(state.opt_outs)) or 'none'}"]
    for debt, seconds in state.conversations:
        lines.append(f"  conversation about {debt}: {format_utc(from_epoch(seconds))}")
    for scope, seconds in state.consents:
        lines.append(f"  consent {scope} until {format_utc(from_epoch(seconds))}")
    if state.inconvenient:
        lines.append("  inconvenient: " + ", ".join(f"{w.start}-{w.end}" for w in
                                                     state.inconvenient))
    if "last" in stored:
        lines.append(f"  last contact: {format_utc(from_epoch(float(stored['last'])))}")
    lines += [f"  {text}" for name, value in sorted(stored.items())
              if (text := describe_gap(name, value, rules)) is not None]
    lines += _counter_table(stored, rules)
    records = sum(1 for name in stored if name.startswith("r") and ":" in name)
    lines.append(f"  decisions on record (for replays and outcomes): {records}")
    if note:
        lines.append("  " + note)
    return "\n".join(lines)


def _counter_table(stored: dict[str, str], rules: dict[str, Rule]) -> list[str]:
    counters = sorted((describe_counter(name, value, rules) for name, value in stored.items()
                       if "|" in name), key=lambda c: (c.rule, c.scope, c.period))
    if not counters:
        return ["  counters: none"]
    rows = [("rule", "scope", "local period", "count")]
    rows += [(c.rule, c.scope, c.period, str(c.count)) for c in counters]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  counters (scopes with personal data are stored as keyed hashes):"]
    for rule, scope, period, count in rows:
        lines.append(f"    {rule:<{widths[0]}}  {scope:<{widths[1]}}  "
                     f"{period:<{widths[2]}}  {count:>5}")
    return lines


async def show_decision(settings: Settings, request_id: str, debtor_id: str) -> str | None:
    _, stored = await _read(settings, debtor_id)
    record = find_record(stored, request_tag(request_id))
    if record is None:
        return None
    rules, note = known_rules(settings.policy)
    lines: list[Any] = [f"request {request_id} of debtor {debtor_id}: decision on record"]
    described = describe_record(record, rules)
    width = max(len(label) for label, _ in described)
    lines += [f"  {label:<{width}}  {text}" for label, text in described]
    if note:
        lines.append("  " + note)
    return "\n".join(lines)
