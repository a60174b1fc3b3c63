"""Builders of valid contract messages for unit tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from gatekeeper.counters.keys import Hasher
from gatekeeper.model import ContactRequest, DebtorState
from gatekeeper.plan import Plan, make_plan
from gatekeeper.policy import load_policy
from gatekeeper.state import event_fields, state_from_hash
from gatekeeper.timeutil import parse_rfc3339
from gatekeeper.validate import parse_event, request_from_dict

HASHER = Hasher(b"unit-test-key")
CONTENT = {"amount_due": 120.5, "currency": "USD", "due_date": "2026-04-01",
           "payment_options": ["card"], "opt_out_instructions": "Reply STOP"}


def request(**fields: Any) -> ContactRequest:
    value: dict[str, Any] = {
        "request_id": "r-1", "debtor_id": "d-1", "channel": "call",
        "destination": "+12125550100", "requested_at": "2026-03-02T15:00:00Z",
        "debtor": {"timezone": "America/New_York", "region": "US", "days_past_due": 120},
    }
    value.update(fields)
    return request_from_dict(orjson.loads(orjson.dumps(value)))


def state(*events: dict[str, Any]) -> DebtorState:
    """Fold events into a DebtorState the way the store does (last writer wins)."""
    fields: dict[str, str] = {}
    for i, event in enumerate(events):
        body = {"event_id": f"e{i}", "debtor_id": "d-1", "occurred_at": "2026-03-01T00:00:00Z"}
        body.update(event)
        parsed = parse_event(orjson.dumps(body))
        for name, value in event_fields(parsed, HASHER):
            fields[name] = f"{int(parsed.occurred_at.timestamp() * 1000)}|{value}"
    if fields:
        fields["v"] = str(len(events))
    return state_from_hash(fields)


def at(text: str) -> datetime:
    return parse_rfc3339(text)


def plan(req: ContactRequest, when: str, *, packs: str = "default",
         debtor_state: DebtorState | None = None) -> Plan:
    return make_plan(req, load_policy(packs), debtor_state or DebtorState(), at(when), HASHER)


def rules(p: Plan) -> list[str]:
    return [r.rule for r in p.blocking]
