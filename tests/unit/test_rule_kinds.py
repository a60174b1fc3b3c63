"""The registry of rule kinds: one module per kind, the README's table and the loader's list
of kinds come from it, and two rules of one kind both hold."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from builders import HASHER, at, request

from gatekeeper.errors import PolicyError
from gatekeeper.model import DebtorState
from gatekeeper.plan import make_plan
from gatekeeper.policy.kinds import KINDS, kinds_table
from gatekeeper.policy.load import parse_pack
from gatekeeper.policy.model import Params, Policy
from gatekeeper.verdict import StoreResult, decide

ROOT = Path(__file__).resolve().parents[2]
KINDS_DIR = ROOT / "gatekeeper" / "policy" / "kinds"
NOON_NY = "2026-03-02T17:00:00Z"
DAY = 86400


def test_the_readme_table_is_the_registry() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| kind | parameters | meaning |")
    table = readme[start:readme.index("\n\n", start)]
    assert table == kinds_table(), "README kinds table is stale: paste the output of " \
                                   "`python -m gatekeeper.policy.kinds` into README.md"


def test_every_kind_module_is_registered_once() -> None:
    modules = sorted(p.stem for p in KINDS_DIR.glob("*.py")
                     if p.stem not in ("__init__", "__main__", "base"))
    assert sorted(KINDS) == modules
    assert "opt_in_required" in kinds_table()


def test_the_loader_lists_the_registered_kinds() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_pack("pack: x\ntitle: t\napplies_to: ['*']\n"
                   "rules: [{id: a, kind: throttle, citation: c}]", "x.yaml")
    assert f"expected one of {', '.join(KINDS)}, found 'throttle'" in str(caught.value)


def test_parameters_are_frozen_and_typed() -> None:
    pack = parse_pack((ROOT / "policies" / "default.yaml").read_text(), "default.yaml")
    for rule in pack.rules:
        assert isinstance(rule.params, Params)
        fields = dataclasses.fields(rule.params)
        if fields:
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(rule.params, fields[0].name, None)
    limit = next(r for r in pack.rules if r.id == "calls-per-day-per-number")
    assert limit.params.max == 1 and limit.params.per == frozenset({"destination"})  # type: ignore[attr-defined]
    assert limit.params.get("counts") == frozenset() and limit.params.get("nothing") is None


SPACING = """
pack: {name}
title: t
applies_to: ["*"]
rules:
  - {{id: spacing, kind: spacing, citation: "{name}", min_days: {days}, when: {when}{shadow}}}
"""


def _pack(name: str, days: int, when: str = "always", shadow: bool = False) -> str:
    return SPACING.format(name=name, days=days, when=when,
                          shadow=", shadow: true" if shadow else "")


def _policy(*texts: str) -> Policy:
    packs = tuple(parse_pack(text, f"{i}.yaml") for i, text in enumerate(texts))
    return Policy(packs, "+".join(p.name for p in packs) + "@test")


def test_two_spacing_rules_both_hold() -> None:
    # The stricter rule first: keeping only the last one (as Plan.spacing did) loses it.
    policy = _policy(_pack("strict", 20), _pack("lenient", 14, when="hardship"))
    hardship = request(debtor={"timezone": "America/New_York", "hardship": True})
    plan = make_plan(hardship, policy, DebtorState(), at(NOON_NY), HASHER)
    assert [(r.name, s) for r, s in plan.spacings] == [("strict/spacing", 20 * DAY),
                                                       ("lenient/spacing", 14 * DAY)]
    assert plan.spacing_seconds == 20 * DAY  # what the store holds: the strictest

    fifteen_days_ago = plan.now.timestamp() - 15 * DAY
    decision = decide(plan, StoreResult("blocked", (), last_contact=fifteen_days_ago))
    assert [r["rule"] for r in decision["reasons"]] == ["strict/spacing"]
    assert decision["retry_at"] == "2026-03-07T17:00:00Z"

    three_days_ago = plan.now.timestamp() - 3 * DAY
    decision = decide(plan, StoreResult("blocked", (), last_contact=three_days_ago))
    assert [r["rule"] for r in decision["reasons"]] == ["strict/spacing", "lenient/spacing"]
    assert decision["retry_at"] == "2026-03-19T17:00:00Z"  # the later of the two


def test_a_shadow_spacing_rule_is_reported_but_never_held_by_the_store() -> None:
    policy = _policy(_pack("watch", 30, shadow=True))
    plan = make_plan(request(), policy, DebtorState(), at(NOON_NY), HASHER)
    assert plan.spacing_seconds == 0
    decision = decide(plan, StoreResult("allowed", (), last_contact=plan.now.timestamp() - DAY))
    assert decision["decision"] == "allowed"
    assert [r["rule"] for r in decision["shadow"]] == ["watch/spacing"]


def test_two_limits_of_one_kind_are_both_counted() -> None:
    text = """
pack: two
title: t
applies_to: ["*"]
rules:
  - {id: a, kind: limit, citation: c, max: 3, window: {calendar: day}}
  - {id: b, kind: limit, citation: c, max: 1, window: {rolling_days: 2}}
"""
    plan = make_plan(request(), _policy(text), DebtorState(), at(NOON_NY), HASHER)
    assert [c.rule.name for c in plan.checks] == ["two/a", "two/b"]
    decision = decide(plan, StoreResult("blocked", ((1,), (0, 1))))
    assert [r["rule"] for r in decision["reasons"]] == ["two/b"]
