"""Operator views of Redis: a debtor's stored state and counters, and the decision on record
for one request. Each returns the text to print, or None when nothing is stored."""

from __future__ import annotations

from typing import Any

from gatekeeper.counters.keys import counters_key, request_tag, state_key
from gatekeeper.counters.store import Store
from gatekeeper.debtor_view import describe_debtor, render_text
from gatekeeper.errors import PolicyError
from gatekeeper.policy import load_pack, load_policy
from gatekeeper.policy.model import Pack, Rule
from gatekeeper.settings import Settings
from gatekeeper.stored import describe_record, find_record, rule_index
from gatekeeper.tail import REVIEW_HEADER as HEADER  # the demo prints review rows too
from gatekeeper.tail import review_row

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
    """``debtor_view``'s description in text (the HTTP API returns the same as JSON)."""
    state_fields, stored = await _read(settings, debtor_id)
    if not state_fields and not stored:
        return None
    rules, note = known_rules(settings.policy)
    text = render_text(describe_debtor(debtor_id, state_fields, stored, rules))
    return text + (f"\n  {note}" if note else "")


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
