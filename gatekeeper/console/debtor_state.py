"""A debtor's stored state and current counters from Redis, in words (the debtor page)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gatekeeper.counters.keys import counters_key, state_key, stored_seconds
from gatekeeper.counters.store import Store
from gatekeeper.debtor_view import Counter, describe_counter
from gatekeeper.state import state_from_hash
from gatekeeper.timeutil import format_utc, from_epoch
from gatekeeper.views import known_rules


@dataclass
class DebtorState:
    found: bool
    profile: list[tuple[str, str]] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    opt_outs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counters: list[Counter] = field(default_factory=list)
    problem: str | None = None  # Redis could not be read


async def read_state(store: Store | None, debtor_id: str, policy: str,
                     request_zone: str | None = None) -> DebtorState:
    """``request_zone``: the time zone the debtor's latest request gave (the gate uses it
    when the stored profile has none, so the page says so instead of "unknown")."""
    if store is None:
        return DebtorState(False, problem="the gate's store is not configured")
    try:
        state_fields, stored = await store.read([("HGETALL", state_key(debtor_id)),
                                                 ("HGETALL", counters_key(debtor_id))])
    except Exception as exc:  # noqa: BLE001 - the page shows the rest
        return DebtorState(False, problem=f"Redis could not be read: {type(exc).__name__}")
    if not state_fields and not stored:
        return DebtorState(False)
    rules, note = known_rules(policy)
    state = state_from_hash(state_fields)
    p = state.profile
    out = DebtorState(True)
    zone = p.timezone or (f"{request_zone} (from the latest request; none in the profile)"
                          if request_zone else "unknown")
    out.profile = [("region", p.region or "unknown"), ("time zone", zone),
                   ("days past due", str(p.days_past_due) if p.days_past_due is not None
                    else "unknown"), ("hardship", "yes" if p.hardship else "no")]
    out.status = sorted(state.flags)
    out.opt_outs = [_opt_out(o) for o in sorted(state.opt_outs)]
    for debt, seconds in state.conversations:
        out.notes.append(f"conversation about {debt if debt != '*' else 'every debt'}: "
                         f"{format_utc(from_epoch(seconds))}")
    for scope, seconds in state.consents:
        out.notes.append(f"consent {scope} until {format_utc(from_epoch(seconds))}")
    for window in state.inconvenient:
        out.notes.append(f"inconvenient {window.start}-{window.end}"
                         f"{' on ' + ', '.join(window.days) if window.days else ''}")
    if "last" in stored:
        out.notes.append(f"last contact {format_utc(from_epoch(stored_seconds(stored['last'])))}")
    if note:
        out.notes.append(note)
    out.counters = sorted((describe_counter(name, value, rules) for name, value in stored.items()
                           if "|" in name), key=lambda c: (c.rule, c.scope, c.period))
    return out


def _opt_out(entry: str) -> str:
    channel, _, destination = entry.partition(":")
    return f"{channel}, one destination (hashed {destination[:6]})" if destination else \
        f"{channel}, every destination"
