"""One contract suite for every store: the in-memory one (tests/unit/test_store_contract_memory.py)
and real redis-servers (tests/integration/test_store_contract_redis.py, one node and a cluster).
Each test takes a ``backend`` fixture: ``await backend.store()`` opens another client on the
same data (trusted: a new empty copy where there is none), ``await backend.flush()`` loses
all of it, ``await backend.hash(key)`` reads a hash."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import pytest

from gatekeeper.counters import wire
from gatekeeper.counters.contract import StoreContract
from gatekeeper.counters.keys import Hasher, counters_key, state_key
from gatekeeper.errors import InvalidInput, StoreLost
from gatekeeper.gate import Gate
from gatekeeper.policy import load_policy
from gatekeeper.validate import parse_event, parse_outcome, request_from_dict

NOON = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
HASHER = Hasher(b"contract")
PACK = """
pack: cap
title: a hot debtor's daily cap, counted only for real contacts
applies_to: ["*"]
rules:
  - id: calls-per-day
    kind: limit
    citation: test
    channels: [call]
    max: {max}
    window: {{calendar: day}}
    counts: [no_answer, voicemail, conversation, delivered, failed]
  - id: cease
    kind: status
    citation: test
    statuses: [cease]
"""


class Backend(Protocol):
    async def store(self) -> StoreContract: ...
    async def flush(self) -> None: ...
    async def hash(self, key: str) -> dict[str, str]: ...


def req(i: int | str, **extra: Any) -> Any:
    body = {"request_id": f"r-{i}", "debtor_id": "hot", "channel": "call",
            "destination": "+12125550100", "requested_at": "2026-03-02T17:00:00Z",
            "debtor": {"timezone": "America/New_York"}}
    body.update(extra)
    return request_from_dict(orjson.loads(orjson.dumps(body)))


def event(kind: str, at: str, eid: str = "e") -> Any:
    return parse_event(orjson.dumps({"event_id": eid, "debtor_id": "hot", "type": kind,
                                     "occurred_at": at}))


async def gate(backend: Backend, tmp_path: Path, limit: int) -> Gate:
    path = tmp_path / "cap.yaml"
    path.write_text(PACK.format(max=limit))
    return Gate(load_policy([str(path)]), await backend.store(), HASHER)


async def counters(backend: Backend) -> dict[str, str]:
    return {k: v for k, v in (await backend.hash(counters_key("hot"))).items() if "|" in k}


async def test_many_gates_on_one_debtor_allow_exactly_the_limit(backend: Backend,
                                                                tmp_path: Path) -> None:
    gates = [await gate(backend, tmp_path, 25) for _ in range(8)]

    async def hammer(worker: int) -> list[str]:
        out = []
        for start in range(0, 25, 5):  # batches of 5, pipelined
            batch = [req(f"{worker}-{i}") for i in range(start, start + 5)]
            out += [d["decision"] for d in await gates[worker].decide(batch, NOON)]  # type: ignore[index]
        return out

    decisions = [d for ds in await asyncio.gather(*(hammer(w) for w in range(8))) for d in ds]
    assert len(decisions) == 200 and decisions.count("allowed") == 25
    assert list((await counters(backend)).values()) == ["25"]


async def test_a_replay_gets_the_same_decision_and_counts_once(backend: Backend,
                                                              tmp_path: Path) -> None:
    g = await gate(backend, tmp_path, 2)
    ((first, record),) = await g.decide_recorded([req(1)], NOON)
    ((again, replayed),) = await g.decide_recorded([req(1)],
                                                   datetime(2026, 3, 2, 18, 0, tzinfo=UTC))
    assert first == again  # the decision, and the record's words (a replay does not carry
    assert record is not None and replayed is not None  # the counted fields: a rebuild plans
    assert record.split(" ")[:6] == replayed.split(" ")  # it again if it is all there is)
    assert list((await counters(backend)).values()) == ["1"]
    (reused,) = await g.decide([req(1, destination="+12125550199")], NOON)
    assert isinstance(reused, InvalidInput) and reused.field == "request_id"


async def test_a_state_changed_by_another_gate_is_planned_again(backend: Backend,
                                                               tmp_path: Path) -> None:
    mine, other = await gate(backend, tmp_path, 5), await gate(backend, tmp_path, 5)
    assert (await mine.decide([req(1)], NOON))[0]["decision"] == "allowed"  # type: ignore[index]
    await other.apply_events([event("cease", "2026-03-01T00:00:00Z")])
    (decision,) = await mine.decide([req(2)], NOON)  # planned from the old state: stale
    assert [r["rule"] for r in decision["reasons"]] == ["cap/cease"]  # type: ignore[index]


async def test_state_is_last_writer_wins_and_applying_twice_changes_nothing(
        backend: Backend, tmp_path: Path) -> None:
    g = await gate(backend, tmp_path, 5)
    await g.apply_events([event("cease", "2026-03-01T10:00:00Z")])
    version = (await backend.hash(state_key("hot")))["v"]
    await g.apply_events([event("cease", "2026-03-01T10:00:00Z")])
    await g.apply_events([event("cease_lifted", "2026-03-01T09:00:00Z", "older")])
    state = await backend.hash(state_key("hot"))
    assert state["v"] == version and state["f:cease"].endswith("|1")


async def test_outcomes_settle_a_reservation_once(backend: Backend, tmp_path: Path) -> None:
    g = await gate(backend, tmp_path, 1)
    await g.decide([req(1)], NOON)
    outcome = parse_outcome(orjson.dumps({"request_id": "r-1", "debtor_id": "hot",
                                          "outcome": "not_connected",
                                          "occurred_at": "2026-03-02T17:01:00Z"}))
    released, settled = await g.apply_outcomes([outcome, outcome], NOON)
    assert released[0] == "released" and len(released) == 2 and settled[0] == "settled"
    assert await counters(backend) == {}
    assert (await g.decide([req(2)], NOON))[0]["decision"] == "allowed"  # type: ignore[index]
    unknown = parse_outcome(orjson.dumps({"request_id": "nope", "debtor_id": "hot",
                                          "outcome": "no_answer",
                                          "occurred_at": "2026-03-02T17:01:00Z"}))
    assert (await g.apply_outcomes([unknown], NOON))[0] == ["unknown"]


async def test_a_flushed_store_writes_nothing_and_says_so(backend: Backend,
                                                         tmp_path: Path) -> None:
    g = await gate(backend, tmp_path, 5)
    await g.decide([req(1)], NOON)
    await backend.flush()
    with pytest.raises(StoreLost):
        await g.decide([req(2)], NOON)
    with pytest.raises(StoreLost):  # and holds until the copy is trusted again
        await g.apply_events([event("cease", "2026-03-01T00:00:00Z")])
    assert await backend.hash(counters_key("hot")) == {}
    assert await backend.hash(state_key("hot")) == {}


async def test_a_restored_decision_counts_once(backend: Backend, tmp_path: Path) -> None:
    g = await gate(backend, tmp_path, 1)
    ((_, record),) = await g.decide_recorded([req(1)], NOON)
    assert record is not None
    await backend.flush()
    g.store = await backend.store()  # a new, empty, trusted copy: the rebuild's
    now = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    recorded = ("hot", "r-1", lambda: req(1), record)
    assert await g.restore([recorded, recorded], now) == {"restored": 1, "duplicates": 1}
    assert list((await counters(backend)).values()) == ["1"]
    (again,) = await g.decide([req(1)], NOON)  # the replay finds its first decision
    (blocked,) = await g.decide([req(2)], NOON)  # and the count binds
    assert again["decision"] == "allowed" and blocked["decision"] == "blocked"  # type: ignore[index]


async def test_records_of_old_generations_are_pruned(backend: Backend, tmp_path: Path) -> None:
    g = await gate(backend, tmp_path, 100)
    ttl = g.ttls.decision_seconds
    await g.decide([req(1)], NOON)
    later = datetime.fromtimestamp(NOON.timestamp() + 2 * ttl + 60, UTC)
    await g.decide([req(2, requested_at=later.strftime("%Y-%m-%dT%H:%M:%SZ"))], later)
    records = [k for k in await backend.hash(counters_key("hot")) if k.startswith("r")]
    assert records == [f"r{wire.generation(later, ttl)}:" + records[0].split(":")[1]]


async def test_events_at_the_same_millisecond_give_one_outcome_in_any_order(
        backend: Backend, tmp_path: Path) -> None:
    """A catch-up and the events agent may apply the same events twice, a rebuild in another
    order: at equal times the binding value wins, whatever the order."""
    g = await gate(backend, tmp_path, 5)
    at = "2026-03-01T10:00:00Z"
    await g.apply_events([event("cease_lifted", at, "a"), event("cease", at, "b")])
    await g.apply_events([event("cease_lifted", at, "a")])  # applied again, later
    first = (await backend.hash(state_key("hot")))["f:cease"]
    await backend.flush()
    g.store = await backend.store()
    await g.apply_events([event("cease", at, "b"), event("cease_lifted", at, "a")])
    assert first == (await backend.hash(state_key("hot")))["f:cease"]
    assert first.endswith("|1")


async def test_a_decision_counted_under_another_hashing_key_is_planned_again(
        backend: Backend, tmp_path: Path) -> None:
    """After a change of hashing key the recorded fields name nothing: the rebuild plans the
    request again and counts the fields the new key makes."""
    g = await gate(backend, tmp_path, 1)
    ((_, record),) = await g.decide_recorded([req(1)], NOON)
    assert record is not None and len(record.split(" ")) == 9  # it carries what it counted
    await backend.flush()
    rotated = Gate(g.policy, await backend.store(), Hasher(b"another key"))
    now = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    await rotated.restore([("hot", "r-1", lambda: req(1), record)], now)
    (blocked,) = await rotated.decide([req(2)], NOON)  # the count binds under the new key
    assert blocked["decision"] == "blocked"  # type: ignore[index]
