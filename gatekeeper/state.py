"""PURE: debtor events and outcomes -> state field updates; stored fields -> DebtorState.

State fields are last-writer-wins by event time (see ``counters/lua/apply_state.lua``):

    v                       version, bumped by every change
    p:region p:timezone p:postal_code p:dpd p:hardship     profile
    f:<status>[:<debt>]     "1" while a status holds (cease, attorney_represented, ...;
                            vulnerable is the person's, never per debt)
    f:opt_in:<channel>[:<hash>]  "1" after an opt-in to a channel or destination, until an
                            opt-out of the same channel or destination
    o:<channel>[:<hash>]    "1" while an opt-out holds (whole channel, or one destination)
    cv:<debt or *>          epoch seconds of the last conversation about the debt
    cs:<channel|*>:<debt|*> epoch seconds until which direct prior consent holds
    nt:<notice>:<debt|*>    epoch seconds of the last notice_sent event of that notice
    it                      JSON list of consumer-designated inconvenient windows
"""

from __future__ import annotations

from typing import Any

import orjson

from gatekeeper.counters.keys import Hasher
from gatekeeper.model import ContactOutcome, DebtorEvent, DebtorProfile, DebtorState, Window
from gatekeeper.timeutil import parse_rfc3339

SET_CLEAR = {
    "cease": ("cease", True), "cease_lifted": ("cease", False),
    "attorney_represented": ("attorney_represented", True),
    "attorney_released": ("attorney_represented", False),
    "bankruptcy": ("bankruptcy", True), "bankruptcy_closed": ("bankruptcy", False),
    "deceased": ("deceased", True),
    "dispute": ("dispute", True), "dispute_resolved": ("dispute", False),
}
PROFILE_FIELDS = {"region": "p:region", "timezone": "p:timezone",
                  "postal_code": "p:postal_code", "days_past_due": "p:dpd"}


def event_fields(event: DebtorEvent, hasher: Hasher) -> list[tuple[str, str]]:
    """The state fields an event sets ("" clears a field)."""
    kind, data = event.type, event.data
    if kind in SET_CLEAR:
        status, on = SET_CLEAR[kind]
        field = f"f:{status}:{event.debt_id}" if event.debt_id else f"f:{status}"
        return [(field, "1" if on else "")]
    if kind in ("opt_out", "opt_in"):
        channel = event.channel or "*"
        field = f"o:{channel}"
        opted_in = f"f:opt_in:{channel}"
        if event.destination:
            target = ":" + hasher.destination(channel, event.destination)
            field += target
            opted_in += target
        if kind == "opt_out":
            return [(field, "1"), (opted_in, "")]
        return [(field, ""), (opted_in, "1")]
    if kind == "hardship":
        return [("p:hardship", "1" if data.get("on", True) else "0")]
    if kind == "vulnerable":  # the person's, whatever debt the event names; its note stays
        return [("f:vulnerable", "1" if data.get("on", True) else "")]  # on debtor.events
    if kind == "profile":
        fields = [(PROFILE_FIELDS[k], str(data[k])) for k in PROFILE_FIELDS if k in data]
        if "hardship" in data:
            fields.append(("p:hardship", "1" if data["hardship"] else "0"))
        return fields
    if kind == "inconvenient_times":
        windows = data.get("windows") or []
        return [("it", orjson.dumps(windows).decode() if windows else "")]
    if kind == "consent":
        until = data.get("until")
        seconds = parse_rfc3339(until).timestamp() if until else event.occurred_at.timestamp()
        field = f"cs:{event.channel or '*'}:{event.debt_id or '*'}"
        return [(field, f"{seconds:.3f}")]
    if kind == "notice_sent":
        field = f"nt:{data['notice']}:{event.debt_id or '*'}"
        return [(field, f"{event.occurred_at.timestamp():.3f}")]
    if kind == "conversation":
        return conversation_fields(_debts(data.get("debt_ids"), event.debt_id),
                                   event.occurred_at.timestamp())
    return []


def outcome_fields(outcome: ContactOutcome) -> list[tuple[str, str]]:
    if outcome.outcome != "conversation":
        return []
    return conversation_fields(_debts(list(outcome.debt_ids), None),
                               outcome.occurred_at.timestamp())


def conversation_fields(debts: list[str], seconds: float) -> list[tuple[str, str]]:
    return [(f"cv:{debt}", f"{seconds:.3f}") for debt in debts]


def _debts(debt_ids: list[str] | None, debt_id: str | None) -> list[str]:
    debts = list(debt_ids or ([debt_id] if debt_id else []))
    return debts or ["*"]


def _value(raw: str) -> str:
    _, _, value = raw.partition("|")
    return value


def state_from_hash(fields: dict[str, str]) -> DebtorState:
    """Rebuild the state from ``HGETALL gk:{d}:s`` (tombstones are skipped)."""
    if not fields:
        return DebtorState()
    profile: dict[str, Any] = {}
    flags, opt_outs, conversations, consents, notices = set(), set(), [], [], []
    windows: tuple[Window, ...] = ()
    for name, raw in fields.items():
        if name == "v":
            continue
        value = _value(raw)
        if value == "":
            continue
        prefix, _, rest = name.partition(":")
        if prefix == "f":
            flags.add(rest)
        elif prefix == "o":
            opt_outs.add(rest)
        elif prefix == "cv":
            conversations.append((rest, float(value)))
        elif prefix == "cs":
            consents.append((rest, float(value)))
        elif prefix == "nt":
            notices.append((rest, float(value)))
        elif prefix == "p":
            profile[rest] = value
        elif name == "it":
            windows = tuple(Window(w["start"], w["end"], tuple(w.get("days") or ()))
                            for w in orjson.loads(value))
    return DebtorState(
        version=int(fields.get("v", 0)),
        profile=DebtorProfile(
            region=profile.get("region"),
            timezone=profile.get("timezone"),
            postal_code=profile.get("postal_code"),
            days_past_due=int(profile["dpd"]) if "dpd" in profile else None,
            hardship=profile["hardship"] == "1" if "hardship" in profile else None,
        ),
        flags=frozenset(flags),
        opt_outs=frozenset(opt_outs),
        conversations=tuple(sorted(conversations)),
        consents=tuple(sorted(consents)),
        inconvenient=windows,
        notices=tuple(sorted(notices)),
    )
