"""Dry runs: the decision a check would get now, from a read of the store. Nothing is
counted and nothing is recorded.

The same planning and verdict code as a real check (``plan.make_plan``,
``verdict.decide``), fed by one pipelined read per batch instead of ``decide.lua``: per
debtor, its state hash, its counters hash, and the memory marker of its slot (a dry run on
a store that lost data would answer from the lost copy, so a missing marker raises
``StoreLost`` as a real check would). The counts are those the script would see, so a dry
run blocks exactly where a check made at the same moment would. A request id that was
decided before gets its recorded decision, as a check would. Unlike a check, a dry run is
not atomic with concurrent checks: it is advice, the check decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gatekeeper.counters import wire
from gatekeeper.counters.keys import (
    counters_key,
    marker_for,
    record_field,
    state_key,
    stored_seconds,
)
from gatekeeper.errors import InvalidInput, StoreLost
from gatekeeper.gate import Gate, content_hash
from gatekeeper.model import ContactRequest, Decision
from gatekeeper.plan import make_plan
from gatekeeper.state import state_from_hash
from gatekeeper.verdict import StoreResult, decide


async def preview(gate: Gate, requests: Sequence[ContactRequest], now: datetime
                  ) -> list[Decision | InvalidInput]:
    """Decide every request as a check would at ``now``, writing nothing."""
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as checks: to the ms
    epoch = gate.store.epoch
    if epoch is None:
        raise StoreLost("the store's memory is not verified yet (or is being rebuilt)")
    debtors = list(dict.fromkeys(r.debtor_id for r in requests))
    commands: list[tuple[Any, ...]] = []
    for debtor in debtors:
        commands += [("EXISTS", marker_for(counters_key(debtor), epoch,
                                           cluster=gate.store.cluster)),
                     ("HGETALL", state_key(debtor)), ("HGETALL", counters_key(debtor))]
    answers = await gate.store.read(commands) if commands else []
    stored: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    for at, debtor in enumerate(debtors):
        marker, state, counters = answers[3 * at:3 * at + 3]
        if not marker:
            gate.store.epoch = None
            raise StoreLost("a memory marker is missing: Redis lost data or is being rebuilt")
        stored[debtor] = (state, counters)
    out: list[Decision | InvalidInput] = []
    for request in requests:
        state_fields, counters = stored[request.debtor_id]
        record = wire.current_record(counters.get(record_field(request.request_id)), now,
                                     gate.ttls.decision_seconds)
        if record:  # decided before: the recorded decision, rebuilt as a replayed check's is
            out.append(gate._replay(request, wire.Record.parse_stored(record),
                                    content_hash(request)))
            continue
        plan = make_plan(request, gate.policy, state_from_hash(state_fields), now, gate.hasher)
        counts = tuple(tuple(_int(counters.get(field)) for field in check.fields)
                       for check in plan.checks)
        last = counters.get("last")
        out.append(decide(plan, StoreResult("preview", counts,
                                            stored_seconds(last) if last else None)))
    return out


def _int(value: str | None) -> int:
    return int(value) if value else 0
