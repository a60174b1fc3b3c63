"""Operator views of Redis: a debtor's stored state and counters."""

from __future__ import annotations

from gatekeeper.counters.keys import counters_key, state_key
from gatekeeper.counters.store import Store
from gatekeeper.settings import Settings
from gatekeeper.state import state_from_hash
from gatekeeper.tail import REVIEW_HEADER as HEADER  # the demo prints review rows too
from gatekeeper.tail import review_row
from gatekeeper.timeutil import format_utc, from_epoch

__all__ = ["HEADER", "review_row", "show_debtor"]


async def show_debtor(settings: Settings, debtor_id: str) -> str:
    store = Store.from_url(settings.redis)
    try:
        state_fields, counters = await store.read([("HGETALL", state_key(debtor_id)),
                                                   ("HGETALL", counters_key(debtor_id))])
    finally:
        await store.close()
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
    lines.append("  counters (rule|scope|period = count):" if counters else "  counters: none")
    records = 0
    for name in sorted(counters):
        if name == "last":
            lines.append(f"    last contact = {format_utc(from_epoch(float(counters[name])))}")
        elif "|" in name:
            lines.append(f"    {name} = {counters[name]}")
        elif name.startswith("r"):
            records += 1
    lines.append(f"  decisions on record (for replays and outcomes): {records}")
    return "\n".join(lines)
