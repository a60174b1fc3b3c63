"""PURE: a debtor's stored state and counters, in plain words: the one reading of them.

The two Redis hashes of a debtor (``gk:{d}:s`` and ``gk:{d}:c``, see ``counters/keys.py``)
for people: the HTTP API's ``GET /v1/debtors/{debtor_id}`` returns ``describe_debtor`` as
JSON, and ``gatekeeper debtor show`` prints ``render_text`` of the same description.

Counter fields are ``<rule code>|<scope>|<period>`` (``plan.py`` builds them): the rule code
is a short hash of the rule's name, found again through the loaded packs; the scope joins one
part per ``per`` entry of the rule, in sorted order, and its personal parts (debt,
destination, creditor, collector) are keyed hashes that cannot be reversed, so they are named
with the start of their hash (which tells two numbers apart without revealing them); the
period is a local day number, ``w<week>`` or ``m<month>``. Gap fields are ``t:<rule code>``
(per debtor) or ``t:<rule code>:<destination hash>``: the time of the last contact a
``min_gap`` rule counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from gatekeeper.counters.keys import is_record_field, stored_seconds
from gatekeeper.localtime import EPOCH
from gatekeeper.policy.model import Rule
from gatekeeper.state import state_from_hash
from gatekeeper.timeutil import format_utc, from_epoch

DESTINATION_KINDS = {"mob": "mobile", "res": "residence", "wor": "work", "oth": "other"}


def describe_debtor(debtor_id: str, state_fields: Mapping[str, str],
                    counters: Mapping[str, str], rules: Mapping[str, Rule]) -> dict[str, Any]:
    """The JSON-ready description of a debtor (``known`` is false when nothing is stored);
    ``rules``: rule code -> rule (``stored.rule_index`` of the loaded packs)."""
    state = state_from_hash(dict(state_fields))
    profile = state.profile
    statuses = sorted(_status_words(flag) for flag in state.flags
                      if not flag.startswith("opt_in:"))
    opt_ins = sorted(_channel_words(flag.removeprefix("opt_in:")) for flag in state.flags
                     if flag.startswith("opt_in:"))
    rows = sorted((_counter_row(name, counters[name], rules) for name in counters
                   if "|" in name), key=lambda r: (r["rule"] or "~", r["scope"], r["period"]))
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
        "last_contact": format_utc(from_epoch(stored_seconds(last))) if last else None,
        "gaps": [text for name, value in sorted(counters.items())
                 if (text := describe_gap(name, value, rules)) is not None],
        "counters": rows,
        "decisions_on_record": sum(1 for name in counters if is_record_field(name)),
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
    lines.extend(f"  {gap}" for gap in view["gaps"])
    lines.extend(_counter_table(view["counters"]))
    lines.append(f"  decisions on record (for replays and outcomes): "
                 f"{view['decisions_on_record']}")
    return "\n".join(lines)


def _counter_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["  counters: none"]
    cells = [("rule", "scope", "local period", "count")]
    cells += [(row["rule"] or row["words"].split(",")[0], row["scope"], row["period"],
               str(row["count"])) for row in rows]
    widths = [max(len(cell[i]) for cell in cells) for i in range(3)]
    lines = ["  counters (scopes with personal data are stored as keyed hashes):"]
    for rule, scope, period, count in cells:
        lines.append(f"    {rule:<{widths[0]}}  {scope:<{widths[1]}}  "
                     f"{period:<{widths[2]}}  {count:>5}")
    return lines


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


def _param(rule: Rule, name: str) -> Any:
    """A rule parameter, whether the rule keeps its parameters in a mapping or as typed
    attributes (so that this view does not depend on how a kind stores them)."""
    params = rule.params
    if isinstance(params, Mapping):
        return params.get(name)
    return getattr(params, name, None)


@dataclass(frozen=True, slots=True)
class Counter:
    rule: str  # the rule's name, or "unknown rule <code> (not in the loaded packs)"
    scope: str  # in words
    period: str  # local date, week or month
    count: int
    known: Rule | None = None


def describe_counter(field: str, count: Any, rules: Mapping[str, Rule]) -> Counter:
    code, scope, period = (field.split("|") + ["", ""])[:3]
    rule = rules.get(code)
    number = int(count) if str(count).lstrip("-").isdigit() else 0
    if rule is None:
        return Counter(f"unknown rule {code} (not in the loaded packs)", f"scope {scope or '-'}",
                       _period(period, None), number)
    return Counter(rule.name, _scope(rule, scope), _period(period, rule), number, rule)


def _counter_row(field: str, count: str, rules: Mapping[str, Rule]) -> dict[str, Any]:
    counter = describe_counter(field, count, rules)
    limit = _param(counter.known, "max") if counter.known is not None else None
    words = f"{counter.rule}, {counter.scope}, {counter.period}: {counter.count}"
    return {"rule": counter.known.name if counter.known is not None else None,
            "scope": counter.scope, "period": counter.period, "count": counter.count,
            "limit": limit, "words": words + (f" (limit {limit})" if limit is not None else "")}


def _scope(rule: Rule, scope: str) -> str:
    per = sorted(_param(rule, "per") or ())
    if not per:
        return "per debtor"
    parts = scope.split(".")
    if len(parts) != len(per):
        return f"scope {scope}"
    return ", ".join(_scope_part(rule, name, part) for name, part in zip(per, parts, strict=True))


def _scope_part(rule: Rule, name: str, part: str) -> str:
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
    """A counter's period as the debtor's local calendar names it."""
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


def describe_gap(field: str, value: str, rules: Mapping[str, Rule]) -> str | None:
    """A gap field (``t:<code>[:<destination hash>]``) in words, or None for another field."""
    head, _, rest = field.partition(":")
    if head != "t" or not rest:
        return None
    code, _, target = rest.partition(":")
    rule = rules.get(code)
    name = rule.name if rule else f"unknown rule {code} (not in the loaded packs)"
    scope = f"to one destination (hashed {target[:6]})" if target else "to the debtor"
    try:
        when = format_utc(from_epoch(stored_seconds(value)))
    except ValueError:
        when = value
    return f"last contact counted by {name}, {scope}: {when}"
