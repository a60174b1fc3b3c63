"""The ``overridable`` rule key, and which shipped rules a reviewer may release."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from gatekeeper.console.release import decide_release, refusal, release_id, waived_policy
from gatekeeper.counters import guard
from gatekeeper.counters.keys import Hasher
from gatekeeper.counters.memory_store import MemoryStore
from gatekeeper.errors import PolicyError
from gatekeeper.gate import Gate, Ttls
from gatekeeper.memory import initialize_empty
from gatekeeper.policy import load_pack, load_policy
from gatekeeper.policy.catalog import pack_names
from gatekeeper.policy.describe import describe
from gatekeeper.policy.load import parse_pack
from gatekeeper.signing import verify
from gatekeeper.validate import request_from_dict

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


# --------------------------------------------------------------------------- decide_release



NOON = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)  # 12:00 in New York
KEY = b"hash-key"
CONTENT = {"amount_due": 10, "currency": "USD", "due_date": "2026-12-01",
           "payment_options": ["online"], "opt_out_instructions": "reply STOP"}


def letter(n: int) -> dict[str, object]:
    return {"request_id": f"L{n}", "debtor_id": "D1", "channel": "letter",
            "destination": "ADDR-1", "requested_at": "2026-11-18T16:59:00Z",
            "debtor": {"region": "US-NY", "timezone": "America/New_York"},
            "content": CONTENT}


async def _gate() -> tuple[Gate, MemoryStore]:
    store = MemoryStore(clock=NOON.timestamp)
    if not (await guard.verify(store, guard.key_id(KEY), started_at=0.0)).trusted:
        await initialize_empty(store, KEY, purpose="test")
    return Gate(load_policy("default"), store, Hasher(KEY)), store


async def test_a_release_waives_only_the_blocking_rules_and_still_counts():
    gate, store = await _gate()
    decided = await gate.decide([request_from_dict(letter(n)) for n in (1, 2, 3)], NOON)
    assert [d["decision"] for d in decided] == ["allowed", "allowed", "blocked"]  # type: ignore[index]
    body = {"request": letter(3), "decision": decided[2]}
    outcome = await decide_release(gate.policy, store, Hasher(KEY), Ttls(), body,
                                   actor="rita", reason="asked by post", now=NOON,
                                   signing_key=b"sign")
    decision = outcome.decision
    assert decision["decision"] == "allowed" and decision["request_id"] == "L3~release"
    assert [r["rule"] for r in decision["shadow"]] == ["default/letters-per-month"]
    allowed, record = outcome.outputs
    assert allowed.kind == "allowed" and orjson.loads(allowed.value) == letter(3)
    headers = dict(allowed.headers)
    assert headers["gk-override-by"] == b"rita"
    assert headers["gk-override-reason"] == b"asked by post"
    assert verify([b"sign"], headers["gk-signature"].decode(), "L3",
                  headers["gk-decision-id"].decode(), headers["gk-policy"].decode(),
                  allowed.value)
    recorded = orjson.loads(record.value)
    assert (record.kind, recorded["via"], recorded["actor"], recorded["releases"]) == \
        ("decisions", "override", "rita", "L3")
    assert recorded["request"]["request_id"] == "L3~release"
    assert dict(record.headers)["gk-record"].startswith(b"a ")
    # counted: the next letter sees three this month
    (fourth,) = await gate.decide([request_from_dict(letter(4))], NOON)
    assert fourth["reasons"][0]["message"] == "letters this month: 3 (limit 2)"  # type: ignore[index]
    # a second release replays the first: same decision, counted once
    again = await decide_release(gate.policy, store, Hasher(KEY), Ttls(), body, actor="rita",
                                 reason="asked by post", now=NOON, signing_key=b"sign")
    assert again.decision["decision_id"] == decision["decision_id"]


async def test_a_release_refuses_a_statutory_block_and_an_empty_reason():
    gate, store = await _gate()
    body = {"request": letter(1), "decision": {
        "decision": "blocked", "reasons": [{"rule": "default/opt-outs"}]}}
    with pytest.raises(ValueError, match="not overridable: default/opt-outs"):
        await decide_release(gate.policy, store, Hasher(KEY), Ttls(), body, actor="rita",
                             reason="because", now=NOON, signing_key=b"k")
    body["decision"]["reasons"] = [{"rule": "default/letters-per-month"}]  # type: ignore[index]
    with pytest.raises(ValueError, match="a release needs a reason"):
        await decide_release(gate.policy, store, Hasher(KEY), Ttls(), body, actor="rita",
                             reason="   ", now=NOON, signing_key=b"k")
