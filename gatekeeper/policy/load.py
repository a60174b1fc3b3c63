"""YAML -> Pack/Policy. The format is closed: an unknown key or a bad value fails with
the file, the path inside it, what was expected and what was found."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from datetime import date, time
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.errors import PolicyError
from gatekeeper.model import CHANNELS, OUTCOMES
from gatekeeper.paths import POLICIES
from gatekeeper.policy.model import WEEKDAYS, Pack, Policy, Rule, Span

PURPOSES = ("collection", "opt_out_confirmation", "cease_notice", "reply_to_debtor", "legal_notice")
DESTINATION_KINDS = ("mobile", "residence", "work", "other")
SCOPES = ("debt", "destination", "destination_kind", "creditor", "collector", "channel")
STATUSES = ("cease", "attorney_represented", "bankruptcy", "deceased", "dispute")
CONTENT_FIELDS = ("amount_due", "currency", "due_date", "payment_options", "opt_out_instructions")
CALENDAR = ("day", "week", "month")
HOLIDAY_CATEGORIES = ("public", "optional", "government")
POSTAL_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{0,15}$")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SPAN = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")


class _Ctx:
    def __init__(self, file: str):
        self.file = file

    def fail(self, path: str, message: str) -> PolicyError:
        return PolicyError(self.file, path, message)


Check = Callable[[_Ctx, str, Any], Any]


def _found(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _str(ctx: _Ctx, path: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ctx.fail(path, f"expected a non-empty string, found {_found(value)}")
    return value


def _name(ctx: _Ctx, path: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise ctx.fail(path, f"expected a lower-case name (a-z, 0-9, -), found {_found(value)}")
    return value


def _bool(ctx: _Ctx, path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ctx.fail(path, f"expected true or false, found {_found(value)}")
    return value


def _count(ctx: _Ctx, path: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ctx.fail(path, f"expected a whole number >= 0, found {_found(value)}")
    return value


def _positive(ctx: _Ctx, path: str, value: Any) -> int:
    number = _count(ctx, path, value)
    if number < 1:
        raise ctx.fail(path, f"expected a whole number >= 1, found {_found(value)}")
    return number


def _date(ctx: _Ctx, path: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ctx.fail(path, f"expected a date YYYY-MM-DD, found {_found(value)}") from None


def _choices(options: Iterable[str]) -> Check:
    allowed = tuple(options)

    def check(ctx: _Ctx, path: str, value: Any) -> frozenset[str]:
        if not isinstance(value, list) or not value:
            raise ctx.fail(path, f"expected a non-empty list of {', '.join(allowed)}, "
                                 f"found {_found(value)}")
        for i, item in enumerate(value):
            if item not in allowed:
                raise ctx.fail(f"{path}[{i}]", f"expected one of {', '.join(allowed)}, "
                                               f"found {_found(item)}")
        return frozenset(value)

    return check


def _one_of(options: Iterable[str]) -> Check:
    allowed = tuple(options)

    def check(ctx: _Ctx, path: str, value: Any) -> str:
        if value not in allowed:
            raise ctx.fail(path, f"expected one of {', '.join(allowed)}, found {_found(value)}")
        return str(value)

    return check


def _strings(ctx: _Ctx, path: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ctx.fail(path, f"expected a list of strings, found {_found(value)}")
    return tuple(_str(ctx, f"{path}[{i}]", item) for i, item in enumerate(value))


def _mapping(ctx: _Ctx, path: str, value: Any, allowed: dict[str, tuple[bool, Check]]
             ) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.fail(path, f"expected a mapping, found {_found(value)}")
    out: dict[str, Any] = {}
    for key in value:
        if key not in allowed:
            raise ctx.fail(_join(path, str(key)),
                           f"unknown key; expected one of {', '.join(sorted(allowed))}")
    for key, (required, check) in allowed.items():
        if key in value:
            out[key] = check(ctx, _join(path, key), value[key])
        elif required:
            raise ctx.fail(_join(path, key), "required key is missing")
    return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _window(ctx: _Ctx, path: str, value: Any) -> dict[str, Any]:
    window = _mapping(ctx, path, value, {
        "calendar": (False, _one_of(CALENDAR)),
        "rolling_days": (False, _positive),
    })
    if len(window) != 1:
        raise ctx.fail(path, "expected exactly one of calendar (day, week, month) or rolling_days")
    return window


def _spans(ctx: _Ctx, path: str, value: Any) -> tuple[Span, ...]:
    if not isinstance(value, list):
        raise ctx.fail(path, f"expected a list of \"HH:MM-HH:MM\" spans, found {_found(value)}")
    spans = []
    for i, item in enumerate(value):
        match = SPAN.match(item) if isinstance(item, str) else None
        if not match:
            raise ctx.fail(f"{path}[{i}]", f"expected \"HH:MM-HH:MM\", found {_found(item)}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        end = h2 * 60 + m2
        if end > 1440 or end <= h1 * 60 + m1:
            raise ctx.fail(f"{path}[{i}]", f"the end must be after the start, found {item!r}")
        spans.append(Span(time(h1, m1), end))
    return tuple(spans)


def _day_set(ctx: _Ctx, path: str, key: str) -> tuple[str, ...]:
    if key in ("daily", "all"):
        return WEEKDAYS
    if key in WEEKDAYS:
        return (key,)
    first, _, last = key.partition("-")
    if first in WEEKDAYS and last in WEEKDAYS:
        i, j = WEEKDAYS.index(first), WEEKDAYS.index(last)
        if i <= j:
            return WEEKDAYS[i:j + 1]
    raise ctx.fail(path, f"expected a weekday (mon..sun), a range like mon-fri, or daily, "
                         f"found {key!r}")


def _week(ctx: _Ctx, path: str, value: Any) -> dict[str, tuple[Span, ...]]:
    if not isinstance(value, dict) or not value:
        raise ctx.fail(path, f"expected a mapping of weekdays to spans, found {_found(value)}")
    week: dict[str, tuple[Span, ...]] = {}
    for key, spans in value.items():
        key_path = _join(path, str(key))
        for day in _day_set(ctx, key_path, str(key)):
            if day in week:
                raise ctx.fail(key_path, f"{day} is given twice")
            week[day] = _spans(ctx, key_path, spans)
    return week


def _postal_prefixes(ctx: _Ctx, path: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ctx.fail(path, f"expected a non-empty list of postal code prefixes, "
                             f"found {_found(value)}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not POSTAL_PREFIX.match(item):
            raise ctx.fail(f"{path}[{i}]", f"expected a postal code prefix (letters, digits), "
                                           f"found {_found(item)}")
        out.append(_normal_postal(item))
    return tuple(out)


def _normal_postal(text: str) -> str:
    return text.replace(" ", "").replace("-", "").upper()


_ANY = (False, _str)
KIND_PARAMS: dict[str, dict[str, tuple[bool, Check]]] = {
    "limit": {
        "max": (True, _count),
        "window": (True, _window),
        "per": (False, _choices(SCOPES)),
        "counts": (False, _choices(OUTCOMES)),
        "except_consent": (False, _bool),
    },
    "hours": {
        "windows": (True, _week),
        "holidays": (False, _one_of(("allow", "block"))),
        "holiday_categories": (False, _choices(HOLIDAY_CATEGORIES)),
        "except_consent": (False, _bool),
    },
    "status": {
        "statuses": (True, _choices(STATUSES)),
        "except_purposes": (False, _choices(PURPOSES)),
    },
    "opt_out": {"except_purposes": (False, _choices(PURPOSES))},
    "min_days_past_due": {"days": (True, _count)},
    "content": {"fields": (True, _choices(CONTENT_FIELDS))},
    "spacing": {"min_days": (True, _positive), "when": (True, _one_of(("hardship", "always")))},
    "expiry": {},
    "cooldown": {"days": (True, _positive), "after": (True, _one_of(("conversation",))),
                 "except_consent": (False, _bool)},
    "inconvenient_times": {},
    "opt_in_required": {"except_purposes": (False, _choices(PURPOSES))},
}
COMMON: dict[str, tuple[bool, Check]] = {
    "id": (True, _name),
    "kind": (True, _one_of(KIND_PARAMS)),
    "citation": (True, _str),
    "description": _ANY,
    "channels": (False, _choices(CHANNELS)),
    "purposes": (False, _choices(PURPOSES)),
    "destination_kinds": (False, _choices(DESTINATION_KINDS)),
    "shadow": (False, _bool),
    "effective_from": (False, _date),
    "effective_until": (False, _date),
}
PACK_KEYS: dict[str, tuple[bool, Check]] = {
    "pack": (True, _name),
    "title": (True, _str),
    "description": _ANY,
    "version": (False, _positive),
    "applies_to": (True, _strings),
    "postal_codes": (False, _postal_prefixes),
    "sources": (False, _strings),
    "readings": (False, _strings),
    "rules": (True, lambda ctx, path, value: value),
}


def _rule(ctx: _Ctx, pack: str, path: str, value: Any) -> Rule:
    if not isinstance(value, dict):
        raise ctx.fail(path, f"expected a rule mapping, found {_found(value)}")
    kind = value.get("kind")
    _one_of(KIND_PARAMS)(ctx, _join(path, "kind"), kind)
    fields = _mapping(ctx, path, value, {**COMMON, **KIND_PARAMS[str(kind)]})
    params = {k: v for k, v in fields.items() if k not in COMMON}
    if kind == "hours" and "holiday_categories" in params and params.get("holidays") != "block":
        raise ctx.fail(_join(path, "holiday_categories"),
                       "holiday_categories needs holidays: block")
    if kind == "limit":
        window = params["window"]
        params["window_days"] = window.get("rolling_days") or {"day": 1, "week": 7,
                                                                "month": 31}[window["calendar"]]
    if kind == "cooldown":
        params["window_days"] = params["days"]
    if kind == "spacing":
        params["window_days"] = params["min_days"]
    return Rule(
        pack=pack,
        id=fields["id"],
        kind=str(kind),
        citation=fields["citation"],
        description=fields.get("description", ""),
        channels=fields.get("channels", frozenset()),
        purposes=fields.get("purposes", frozenset()),
        destination_kinds=fields.get("destination_kinds", frozenset()),
        shadow=fields.get("shadow", False),
        effective_from=fields.get("effective_from"),
        effective_until=fields.get("effective_until"),
        params=params,
    )


def parse_pack(text: str, file: str) -> Pack:
    ctx = _Ctx(file)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ctx.fail(where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    fields = _mapping(ctx, "", data, PACK_KEYS)
    name = fields["pack"]
    rules_value = fields["rules"]
    if not isinstance(rules_value, list) or not rules_value:
        raise ctx.fail("rules", f"expected a non-empty list of rules, found {_found(rules_value)}")
    rules = []
    seen: set[str] = set()
    for i, item in enumerate(rules_value):
        rule = _rule(ctx, name, f"rules[{i}]", item)
        if rule.id in seen:
            raise ctx.fail(f"rules[{i}].id", f"duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        rules.append(rule)
    if not fields["applies_to"]:
        raise ctx.fail("applies_to", "expected at least one region (or \"*\")")
    return Pack(
        name=name,
        title=fields["title"],
        description=fields.get("description", ""),
        applies_to=fields["applies_to"],
        rules=tuple(rules),
        source=file,
        digest=hashlib.sha256(text.encode()).hexdigest(),
        postal_codes=fields.get("postal_codes", ()),
        sources=fields.get("sources", ()),
        readings=fields.get("readings", ()),
    )


def resolve(spec: str) -> Path:
    """A pack name (``us-reg-f``) from ``policies/``, or a path to a YAML file."""
    if spec.endswith((".yaml", ".yml")) or "/" in spec:
        return Path(spec)
    return POLICIES / f"{spec}.yaml"


def load_pack(spec: str) -> Pack:
    path = resolve(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if path != POLICIES / f"{spec}.yaml":  # a file was named, not a pack
            raise PolicyError(str(path), "", "no such file") from None
        known = ", ".join(sorted(p.stem for p in POLICIES.glob("*.yaml")))
        raise PolicyError(str(path), "", f"no such policy pack (known packs: {known})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(path), "", f"cannot read: {exc}") from None
    pack = parse_pack(text, str(path))
    if not spec.endswith((".yaml", ".yml")) and "/" not in spec and pack.name != spec:
        raise PolicyError(str(path), "pack", f"expected pack name {spec!r}, found {pack.name!r}")
    return pack


def load_policy(specs: Iterable[str] | str) -> Policy:
    if isinstance(specs, str):
        specs = [s.strip() for s in specs.split(",") if s.strip()]
    packs = tuple(load_pack(spec) for spec in specs)
    if not packs:
        raise PolicyError("<config>", "", "no policy pack given")
    names = [p.name for p in packs]
    if len(set(names)) != len(names):
        raise PolicyError("<config>", "", f"a pack is given twice: {', '.join(names)}")
    combined = hashlib.sha256("".join(p.digest for p in packs).encode()).hexdigest()
    return Policy(packs=packs, version=f"{'+'.join(names)}@{combined[:12]}")
