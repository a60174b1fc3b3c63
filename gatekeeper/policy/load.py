"""YAML -> Pack/Policy. The format is closed: an unknown key, a key given twice or a bad
value fails with the file, the path inside it, what was expected and what was found. A
rule's own keys are its kind's (``gatekeeper/policy/kinds/``); files above 1 MiB are refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.errors import PolicyError
from gatekeeper.model import CHANNELS
from gatekeeper.paths import POLICIES
from gatekeeper.policy import checks
from gatekeeper.policy.checks import DESTINATION_KINDS, PURPOSES, Check, Ctx, found, join
from gatekeeper.policy.kinds import KINDS
from gatekeeper.policy.model import Band, Pack, Policy, Rule

MAX_POLICY_BYTES = 1024 * 1024
POSTAL_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{0,15}$")
MERGE_TAG = "tag:yaml.org,2002:merge"


def _postal_prefixes(ctx: Ctx, path: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ctx.fail(path, f"expected a non-empty list of postal code prefixes, "
                             f"found {found(value)}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not POSTAL_PREFIX.match(item):
            raise ctx.fail(f"{path}[{i}]", f"expected a postal code prefix (letters, digits), "
                                           f"found {found(item)}")
        out.append(_normal_postal(item))
    return tuple(out)


def _normal_postal(text: str) -> str:
    return text.replace(" ", "").replace("-", "").upper()


def _band(ctx: Ctx, path: str, value: Any) -> Band:
    """``{min: N, max: N}``, either end optional, both included."""
    ends = checks.mapping(ctx, path, value, {"min": (False, checks.count),
                                             "max": (False, checks.count)})
    if not ends:
        raise ctx.fail(path, "expected at least one of min or max (days past due, both "
                             "included), found an empty mapping")
    band = Band(ends.get("min"), ends.get("max"))
    if band.min is not None and band.max is not None and band.max < band.min:
        raise ctx.fail(join(path, "max"), f"expected max >= min ({band.min}), found {band.max}")
    return band


_ANY = (False, checks.text)
COMMON: dict[str, tuple[bool, Check]] = {
    "id": (True, checks.name),
    "kind": (True, checks.one_of(KINDS)),
    "citation": (True, checks.text),
    "description": _ANY,
    "channels": (False, checks.choices(CHANNELS)),
    "purposes": (False, checks.choices(PURPOSES)),
    "destination_kinds": (False, checks.choices(DESTINATION_KINDS)),
    "days_past_due": (False, _band),
    "shadow": (False, checks.boolean),
    "overridable": (False, checks.boolean),
    "effective_from": (False, checks.iso_date),
    "effective_until": (False, checks.iso_date),
}
PACK_KEYS: dict[str, tuple[bool, Check]] = {
    "pack": (True, checks.name),
    "title": (True, checks.text),
    "description": _ANY,
    "version": (False, checks.positive),
    "applies_to": (True, checks.strings),
    "postal_codes": (False, _postal_prefixes),
    "sources": (False, checks.strings),
    "readings": (False, checks.strings),
    "rules": (True, lambda ctx, path, value: value),
}


def _rule(ctx: Ctx, pack: str, path: str, value: Any) -> Rule:
    if not isinstance(value, dict):
        raise ctx.fail(path, f"expected a rule mapping, found {found(value)}")
    kind = KINDS[COMMON["kind"][1](ctx, join(path, "kind"), value.get("kind"))]
    fields = checks.mapping(ctx, path, value, {**COMMON, **kind.params})
    params = kind.build(ctx, path, {k: v for k, v in fields.items() if k not in COMMON})
    return Rule(
        pack=pack,
        id=fields["id"],
        kind=kind.name,
        citation=fields["citation"],
        description=fields.get("description", ""),
        channels=fields.get("channels", frozenset()),
        purposes=fields.get("purposes", frozenset()),
        destination_kinds=fields.get("destination_kinds", frozenset()),
        shadow=fields.get("shadow", False),
        overridable=fields.get("overridable", False),
        effective_from=fields.get("effective_from"),
        effective_until=fields.get("effective_until"),
        days_past_due=fields.get("days_past_due"),
        params=params,
    )


def _yaml(ctx: Ctx, text: str) -> Any:
    """The document, refused when it has a key twice in one mapping (YAML loaders keep the
    last silently: ``max: 1`` then ``max: 100`` would be 100)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _unique_keys(ctx, node, "", set())
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ctx.fail(where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    finally:
        loader.dispose()


def _unique_keys(ctx: Ctx, node: yaml.Node, path: str, seen: set[int]) -> None:
    if id(node) in seen:  # an alias of a node already walked
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _unique_keys(ctx, item, f"{path}[{i}]", seen)
    elif isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == MERGE_TAG:
                _unique_keys(ctx, value, path, seen)
                continue
            key_path = join(path, str(key.value))
            line = key.start_mark.line + 1
            if (key.tag, key.value) in lines:
                first = lines[(key.tag, key.value)]
                where = f"line {line}" if first == line else f"lines {first} and {line}"
                raise ctx.fail(key_path, f"expected each key once, found {key.value!r} twice "
                                         f"({where})")
            lines[(key.tag, key.value)] = line
            _unique_keys(ctx, value, key_path, seen)


def _size(ctx: Ctx, size: int) -> None:
    if size > MAX_POLICY_BYTES:
        raise ctx.fail("", f"expected a policy file of at most 1 MiB ({MAX_POLICY_BYTES} "
                           f"bytes), found {size} bytes")


def parse_pack(text: str, file: str) -> Pack:
    ctx = Ctx(file)
    _size(ctx, len(text.encode()))
    fields = checks.mapping(ctx, "", _yaml(ctx, text), PACK_KEYS)
    name = fields["pack"]
    rules_value = fields["rules"]
    if not isinstance(rules_value, list) or not rules_value:
        raise ctx.fail("rules", f"expected a non-empty list of rules, found {found(rules_value)}")
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
        with path.open("rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)  # no more: the file may be huge
        if len(data) > MAX_POLICY_BYTES:
            _size(Ctx(str(path)), max(path.stat().st_size, len(data)))
        text = data.decode("utf-8")
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
