"""Release a blocked request: decided again now, through the same gate, with only its
blocking rules waived, when every one of them is ``overridable: true``.

The waived rules are made shadow rules for this one decision (``Gate.decide_recorded`` over
the same store): they are still counted, they hold nothing back, and the decision lists them
under ``shadow``. Every other rule applies as on the stream, at this moment, so a release
never lets through what another rule (an opt-out since, a cap reached meanwhile) forbids.

The gate's records are idempotent by request id and the original's block stands, so the
release is decided under its own id, ``<request id>~release`` (``release_id``): a second
release replays the first, and a rebuild of Redis from ``contact.decisions`` puts the
release's counts back under that id. An allowed release goes to ``contact.allowed`` as the
request object as recorded (compact JSON), signed like the worker signs, with the original
request id, plus ``gk-override-by`` and ``gk-override-reason``; it is recorded on
``contact.decisions`` with ``"via": "override"``, the actor, the reason and ``"releases"``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from gatekeeper.counters.contract import StoreContract
from gatekeeper.counters.keys import Hasher
from gatekeeper.errors import InvalidInput
from gatekeeper.gate import Gate, Ttls
from gatekeeper.model import Decision
from gatekeeper.policy.model import Policy, Rule
from gatekeeper.stream import routing
from gatekeeper.validate import request_from_dict

SUFFIX = "~release"
MAX_ID = 128
MAX_REASON = 500


def release_id(request_id: str) -> str:
    """The id a release is decided and recorded under (within the contract's 128)."""
    if len(request_id) + len(SUFFIX) <= MAX_ID:
        return request_id + SUFFIX
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:16]
    return f"{request_id[:MAX_ID - len(SUFFIX) - 17]}-{digest}{SUFFIX}"


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    outputs: list[routing.Outgoing]  # what to produce, in order
    waived: tuple[str, ...]


def refusal(policy: Policy, body: dict[str, Any]) -> str | None:
    """Why this decision cannot be released (None: it can)."""
    decision = body.get("decision") or {}
    if decision.get("decision") != "blocked":
        return "only a blocked decision can be released"
    rules = {rule.name: rule for pack in policy.packs for rule in pack.rules}
    reasons = decision.get("reasons") or []
    if not reasons:
        return "the block names no rule"
    fixed = []
    for reason in reasons:
        rule = rules.get(str(reason.get("rule")))
        if rule is None:
            fixed.append(f"{reason.get('rule')} (not in the loaded policy)")
        elif not rule.overridable:
            fixed.append(str(rule.name))
    if fixed:
        return ("blocked by rules that are not overridable: " + ", ".join(fixed) +
                " (statutory rules never are)")
    return None


def waived_policy(policy: Policy, names: set[str]) -> Policy:
    """The same policy with ``names`` made shadow rules: counted, never blocking."""
    def waive(rule: Rule) -> Rule:
        return dataclasses.replace(rule, shadow=True) if rule.name in names else rule
    packs = tuple(dataclasses.replace(pack, rules=tuple(waive(r) for r in pack.rules))
                  for pack in policy.packs)
    return Policy(packs=packs, version=policy.version)


async def decide_release(policy: Policy, store: StoreContract, hasher: Hasher, ttls: Ttls,
                         body: dict[str, Any], *, actor: str, reason: str, now: datetime,
                         signing_key: bytes | None) -> Outcome:
    """Decide the release of a blocked decision's request and build its messages. Raises
    ``ValueError`` with a message for a person when it may not be released."""
    problem = refusal(policy, body)
    if problem:
        raise ValueError(problem)
    reason = reason.strip()
    if not reason:
        raise ValueError("reason: a release needs a reason (it goes with the request to the "
                         "carriers and into the audit trail)")
    if len(reason) > MAX_REASON:
        raise ValueError(f"reason: expected at most {MAX_REASON} characters, found "
                         f"{len(reason)}")
    original = body["request"]
    request_id = str(original["request_id"])
    released = {**original, "request_id": release_id(request_id)}
    try:
        request = request_from_dict(released)
    except InvalidInput as exc:
        raise ValueError(f"the recorded request no longer meets the contract: {exc}") from None
    waived = tuple(sorted({str(r["rule"]) for r in body["decision"]["reasons"]}))
    gate = Gate(waived_policy(policy, set(waived)), store, hasher, ttls)
    ((decision, stored),) = await gate.decide_recorded([request], now)
    if isinstance(decision, InvalidInput):
        raise ValueError(f"the release cannot be decided: {decision}")
    key = str(original["debtor_id"]).encode()
    outputs = []
    signature = None
    if decision["decision"] == "allowed":
        value = orjson.dumps(original)
        message = routing.Incoming(key, value, "console", 0, 0)
        # signed over the payload's own request id, as carriers check it
        allowed = routing.allowed(message, {**decision, "request_id": request_id}, signing_key)
        signature = dict(allowed.headers).get("gk-signature", b"").decode() or None
        headers = (*allowed.headers, ("gk-override-by", actor.encode()),
                   ("gk-override-reason", reason.encode()))
        outputs.append(dataclasses.replace(allowed, headers=headers))
    else:
        outputs.append(routing.review(routing.Incoming(key, None, "console", 0, 0), released,
                                      decision))
    body_out: dict[str, Any] = {"request": released, "decision": decision, "via": "override",
                                "actor": actor, "reason": reason, "releases": request_id}
    if signature:
        body_out["signature"] = signature
    outputs.append(routing.Outgoing("decisions", key, orjson.dumps(body_out),
                                    (("gk-record", stored.encode()),) if stored else ()))
    return Outcome(decision, outputs, waived)
