"""PURE: a debtor's stored state and counters, in plain words.

One reading of the two Redis hashes of a debtor (``gk:{d}:s`` and ``gk:{d}:c``, see
``counters/keys.py``) for people: ``gatekeeper debtor show`` prints it as text, and the HTTP
API's ``GET /v1/debtors/{debtor_id}`` returns it as JSON. Counter fields
(``<rule code>|<scope>|<period>``) are named with the loaded policy's rules; the scope's
parts that are keyed hashes (debt, destination, creditor, collector) cannot be reversed and
are said to be hashed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from gatekeeper.counters.keys import rule_code
from gatekeeper.localtime import EPOCH
from gatekeeper.policy.model import Policy, Rule
from gatekeeper.state import state_from_hash
from gatekeeper.timeutil import format_utc, from_epoch

HASHED_SCOPES = {"debt": "debt", "destination": "destination", "creditor": "creditor",
                 "collector": "collector"}


def describe_debtor(debtor_id: str, state_fields: dict[str, str], counters: dict[str, str],
                    policy: Policy) -> dict[str, Any]:
    """The JSON-ready description of a debtor (``known`` is false when nothing is stored)."""
    state = state_from_hash(state_fields)
    profile = state.profile
    rules = {rule_code(rule.name): rule for pack in policy.packs for rule in pack.rules}
    statuses = sorted(_status_words(flag) for flag in state.flags
                      if not flag.startswith("opt_in:"))
    opt_ins = sorted(_channel_words(flag.removeprefix("opt_in:")) for flag in state.flags
                     if flag.startswith("opt_in:"))
    rows = [_counter(name, counters[name], rules) for name in sorted(counters) if "|" in name]
    last = counters.get("last")
    return {
        "debtor_id": debtor_id,
        "known": bool(state_fields or counters),
        "state_version": state.version,
        "profile": {"region": profile.region, "timezone": profile.timezone,
                    "postal_code": profile.postal_code, "days_past_due": profile.days_past_due,
                    "hardship": profile.hardship},
        "statuses": statuses,
        "opt_outs": sorted(_channel_words(o) for o in state.opt_outs),
        "opt_ins": opt_ins,
        "conversations": [{"debt": debt if debt != "*" else "any",
                           "at": format_utc(from_epoch(seconds))}
                          for debt, seconds in state.conversations],
        "consents": [_consent(scope, until) for scope, until in state.consents],
        "inconvenient_times": [{"start": w.start, "end": w.end, "days": list(w.days)}
                               for w in state.inconvenient],
        "last_contact": format_utc(from_epoch(float(last))) if last else None,
        "counters": rows,
        "decisions_on_record": sum(1 for name in counters if name[:1] == "r" and ":" in name),
    }


def render_text(view: dict[str, Any]) -> str:
    """The description as ``gatekeeper debtor show`` prints it."""
    profile = view["profile"]
    dpd = profile["days_past_due"]
    hardship = {True: "yes", False: "no", None: "-"}[profile["hardship"]]
    lines = [f"debtor {view['debtor_id']}  (state version {view['state_version']})"
             + ("" if view["known"] else "  nothing stored for this debtor"),
             f"  region {profile['region'] or '-'}  timezone {profile['timezone'] or '-'}  "
             f"days past due {dpd if dpd is not None else '-'}  hardship {hardship}",
             f"  status: {', '.join(view['statuses']) or 'none'}",
             f"  opt-outs: {', '.join(view['opt_outs']) or 'none'}"]
    if view["opt_ins"]:
        lines.append(f"  opt-ins: {', '.join(view['opt_ins'])}")
    for talk in view["conversations"]:
        lines.append(f"  conversation about {talk['debt']} debt: {talk['at']}")
    for consent in view["consents"]:
        lines.append(f"  consent: {consent['words']}")
    if view["inconvenient_times"]:
        lines.append("  inconvenient: " + ", ".join(
            f"{w['start']}-{w['end']}" + (f" ({','.join(w['days'])})" if w["days"] else "")
            for w in view["inconvenient_times"]))
    if view["last_contact"]:
        lines.append(f"  last contact: {view['last_contact']}")
    lines.append("  counters:" if view["counters"] else "  counters: none")
    lines.extend(f"    {row['words']}" for row in view["counters"])
    lines.append(f"  decisions on record (for replays and outcomes): "
                 f"{view['decisions_on_record']}")
    return "\n".join(lines)


def _status_words(flag: str) -> str:
    status, _, debt = flag.partition(":")
    words = status.replace("_", " ")
    return f"{words} (debt {debt})" if debt else words


def _channel_words(scope: str) -> str:
    channel, _, target = scope.partition(":")
    what = "every channel" if channel == "*" else channel
    return f"{what} to one destination (hashed {target})" if target else what


def _consent(scope: str, until: float) -> dict[str, Any]:
    channel, _, debt = scope.partition(":")
    channel = "any channel" if channel == "*" else channel
    debt = "any debt" if debt in ("*", "") else f"debt {debt}"
    when = format_utc(from_epoch(until))
    return {"channel": channel, "debt": debt, "until": when,
            "words": f"{channel}, {debt}, until {when}"}


def _counter(name: str, value: str, rules: dict[str, Rule]) -> dict[str, Any]:
    code, scope, period = (name.split("|", 2) + ["", ""])[:3]
    rule = rules.get(code)
    count = int(value) if value.lstrip("-").isdigit() else value
    period_words = _period_words(period)
    if rule is None:
        return {"rule": None, "scope": scope, "period": period_words, "count": count,
                "limit": None, "words": f"a rule no longer in the policy (code {code}), "
                                       f"{period_words}: {count}"}
    scope_words = _scope_words(rule, scope)
    limit = rule.params.get("max")
    words = f"{rule.name} {scope_words}, {period_words}: {count}"
    if limit is not None:
        words += f" (limit {limit}{_window_words(rule)})"
    return {"rule": rule.name, "scope": scope_words, "period": period_words, "count": count,
            "limit": limit, "words": words}


def _scope_words(rule: Rule, scope: str) -> str:
    names = sorted(rule.params.get("per", ()))
    if not names:
        return "per debtor"
    parts = scope.split(".") if scope else []
    words = []
    for i, per in enumerate(names):
        part = parts[i] if i < len(parts) else "-"
        if per in HASHED_SCOPES:
            words.append(f"per {HASHED_SCOPES[per]} ({'none' if part == '-' else 'hashed'})")
        else:
            words.append(f"per {per.replace('_', ' ')} ({part})")
    return ", ".join(words)


def _window_words(rule: Rule) -> str:
    rolling = rule.params.get("rolling_days")
    if rolling:
        return f" in {rolling} consecutive days"
    calendar = rule.params.get("calendar")
    return f" a {calendar}" if calendar else ""


def _period_words(period: str) -> str:
    """A counter's period as the debtor's local calendar names it."""
    try:
        if period.startswith("w"):
            monday = EPOCH + timedelta(days=int(period[1:]) * 7 - 3)
            return f"local week of {monday.isoformat()}"
        if period.startswith("m"):
            number = int(period[1:])
            return f"local month {date(number // 12, number % 12 + 1, 1):%Y-%m}"
        return f"local day {(EPOCH + timedelta(days=int(period))).isoformat()}"
    except (ValueError, OverflowError):
        return f"period {period}"
