"""The ``overridable`` rule key, and which shipped rules a reviewer may release."""

from __future__ import annotations

import pytest

from gatekeeper.console.release import refusal, release_id, waived_policy
from gatekeeper.errors import PolicyError
from gatekeeper.policy import load_pack, load_policy
from gatekeeper.policy.catalog import pack_names
from gatekeeper.policy.describe import describe
from gatekeeper.policy.load import parse_pack

PACK = """
pack: p
title: t
applies_to: ["*"]
rules:
  - id: r
    kind: limit
    citation: c
    channels: [call]
    max: 1
    window: {calendar: day}
    overridable: %s
"""

OVERRIDABLE_IN_SHIPPED = {"default/calls-per-day-per-number", "default/letters-per-month",
                          "default/visits-90-days-past-due"}


def test_overridable_is_a_boolean_and_false_by_default():
    assert parse_pack(PACK % "true", "p.yaml").rules[0].overridable is True
    assert parse_pack(PACK.replace("    overridable: %s\n", ""), "p.yaml").rules[0] \
        .overridable is False
    with pytest.raises(PolicyError) as caught:
        parse_pack(PACK % "'yes'", "p.yaml")
    assert "rules[0].overridable" in str(caught.value)


def test_only_the_products_own_caps_are_overridable_in_the_shipped_packs():
    found = {rule.name for name in pack_names() for rule in load_pack(name).rules
             if rule.overridable}
    assert found == OVERRIDABLE_IN_SHIPPED  # never a rule that cites a statute
    assert "overridable: a reviewer may release" in describe(load_pack("default"))


def block(*rules: str) -> dict[str, object]:
    return {"decision": {"decision": "blocked", "reasons": [{"rule": r} for r in rules]}}


def test_refusal_names_every_rule_that_is_not_overridable():
    policy = load_policy("default,us-reg-f")
    assert refusal(policy, block("default/calls-per-day-per-number")) is None
    problem = refusal(policy, block("default/calls-per-day-per-number",
                                    "us-reg-f/calls-7-in-7", "x/unknown"))
    assert problem is not None
    assert "us-reg-f/calls-7-in-7" in problem and "x/unknown (not in the loaded policy)" in \
        problem and "calls-per-day" not in problem
    assert refusal(policy, {"decision": {"decision": "allowed", "reasons": []}}) == \
        "only a blocked decision can be released"


def test_a_waived_policy_turns_exactly_those_rules_into_shadow_rules():
    policy = load_policy("default")
    waived = waived_policy(policy, {"default/letters-per-month"})
    shadow = {r.name for p in waived.packs for r in p.rules if r.shadow}
    assert shadow == {"default/letters-per-month"}
    assert waived.version == policy.version
    assert not any(r.shadow for p in policy.packs for r in p.rules)  # the original is intact


def test_release_ids_stay_within_the_contract():
    assert release_id("r-1") == "r-1~release"
    long = "x" * 128
    assert len(release_id(long)) == 128 and release_id(long).endswith("~release")
    assert release_id(long) != release_id("x" * 127 + "y")
