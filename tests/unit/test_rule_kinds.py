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


def test_two_limits_of_one_kind_are_both_counted() -> None:
    text = """
pack: two
title: t
applies_to: ["*"]
rules:
  - {id: a, kind: limit, citation: c, max: 3, window: {calendar: day}}
  - {id: b, kind: limit, citation: c, max: 1, window: {rolling_days: 2}}
"""
    packs = (parse_pack(text, "two.yaml"),)
    plan = make_plan(request(), Policy(packs, "two@test"), DebtorState(), at(NOON_NY), HASHER)
    assert [c.rule.name for c in plan.checks] == ["two/a", "two/b"]
    decision = decide(plan, StoreResult("blocked", ((1,), (0, 1))))
    assert [r["rule"] for r in decision["reasons"]] == ["two/b"]
