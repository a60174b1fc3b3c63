"""One contract suite for every store: the in-memory one (tests/unit/test_store_contract_memory.py)
and real redis-servers (tests/integration/test_store_contract_redis.py, one node and a cluster).
Each test takes a ``backend`` fixture: ``await backend.store()`` opens another client on the
same data (trusted: a new empty copy where there is none), ``await backend.flush()`` loses
all of it, ``await backend.hash(key)`` reads a hash."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson
import pytest

from gatekeeper.counters import wire
from gatekeeper.counters.contract import StoreContract
from gatekeeper.counters.keys import Hasher, counters_key, record_field, state_key
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


# the gk-record headers 9af5d91 (layout 1) wrote for req(1) and req(2) at NOON with a limit of 1
MAIN_RECORDS = ("a 1772470800.000 3e8eae3afe 0 - - f428d04ca203 3d4244||20514 3d4244||20514 -",
                "b 1772470800.000 ef774ddc40 1 1772470800.000 -")


async def test_the_record_on_kafka_is_written_and_restored_as_before(
        backend: Backend, tmp_path: Path) -> None:
    """The words on contact.decisions did not change with the store's layout: records an
    older version put on Kafka rebuild this version's store, and bind."""
    g = await gate(backend, tmp_path, 1)
    first = await g.decide_recorded([req(1), req(2)], NOON)
    assert tuple(record for _, record in first) == MAIN_RECORDS
    await backend.flush()
    g.store = await backend.store()  # a new, empty, trusted copy: the rebuild's
    now = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    recorded = [("hot", "r-1", lambda: req(1), MAIN_RECORDS[0]),
                ("hot", "r-2", lambda: req(2), MAIN_RECORDS[1])]
    assert await g.restore(recorded, now) == {"restored": 2, "duplicates": 0}
    assert await counters(backend) == {"3d4244||20514": "1"}
    again = await g.decide_recorded([req(1), req(2), req(3)], NOON)
    assert [d for d, _ in again[:2]] == [d for d, _ in first]  # replays: the same decisions
    assert tuple(record for _, record in again[:2]) == tuple(
        record.split(" f428")[0] for record in MAIN_RECORDS)  # (a replay counts nothing)
    assert again[2][0]["decision"] == "blocked"  # type: ignore[index] - the count binds


async def test_records_of_old_generations_are_pruned(backend: Backend, tmp_path: Path) -> None:
    g = await gate(backend, tmp_path, 100)
    ttl = g.ttls.decision_seconds
    await g.decide([req(1)], NOON)
    later = datetime.fromtimestamp(NOON.timestamp() + 2 * ttl + 60, UTC)
    await g.decide([req(2, requested_at=later.strftime("%Y-%m-%dT%H:%M:%SZ"))], later)
    records = [k for k in await backend.hash(counters_key("hot")) if k.startswith("r")]
    assert records == [record_field("r-2")]


async def test_an_id_of_a_generation_before_the_last_is_decided_again(
        backend: Backend, tmp_path: Path) -> None:
    """A record answers for its generation and the next; after that the id is decided anew,
    and its new record replaces the old one (one field per request id)."""
    g = await gate(backend, tmp_path, 100)
    ttl = g.ttls.decision_seconds
    (first,) = await g.decide([req(1)], NOON)
    next_one = datetime.fromtimestamp(NOON.timestamp() + ttl + 60, UTC)
    (replayed,) = await g.decide([req(1)], next_one)
    assert replayed == first
    later = datetime.fromtimestamp(NOON.timestamp() + 2 * ttl + 60, UTC)
    (again,) = await g.decide([req(1)], later)
    assert again["evaluated_at"] != first["evaluated_at"]  # type: ignore[index]
    stored = await backend.hash(counters_key("hot"))
    records = {k: v for k, v in stored.items() if k.startswith("r")}
    assert list(records) == [record_field("r-1")]
    assert wire.stored_generation(records[record_field("r-1")], ttl) == wire.generation(later,
                                                                                         ttl)


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
    assert record is not None and len(record.split(" ")) == 10  # it carries what it counted
    await backend.flush()
    rotated = Gate(g.policy, await backend.store(), Hasher(b"another key"))
    now = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    await rotated.restore([("hot", "r-1", lambda: req(1), record)], now)
    (blocked,) = await rotated.decide([req(2)], NOON)  # the count binds under the new key
    assert blocked["decision"] == "blocked"  # type: ignore[index]


GAP_PACK = """
pack: gap
title: three hours between calls, texts and visits; five minutes between calls to one number
applies_to: ["*"]
rules:
  - {id: three-hours, kind: min_gap, citation: test, channels: [call, sms, visit], hours: 3}
  - {id: five-minutes, kind: min_gap, citation: test, channels: [call], minutes: 5,
     per: destination, shadow: true}
"""
T0 = datetime(2026, 3, 2, 17, 0, 0, 123_000, tzinfo=UTC)  # milliseconds: compared exactly


async def gap_gate(backend: Backend, tmp_path: Path) -> Gate:
    path = tmp_path / "gap.yaml"
    path.write_text(GAP_PACK)
    return Gate(load_policy([str(path)]), await backend.store(), HASHER)


def at_offset(seconds: float) -> datetime:
    return datetime.fromtimestamp(round(T0.timestamp() + seconds, 3), UTC)


def contact(i: int | str, channel: str, seconds: float, **extra: Any) -> Any:
    destinations = {"email": "d@example.com", "visit": "1 Main St", "letter": "1 Main St"}
    extra.setdefault("destination", destinations.get(channel, "+12125550100"))
    when = at_offset(seconds).isoformat().replace("+00:00", "Z")
    return req(i, channel=channel, requested_at=when, **extra)


async def decided(g: Gate, request: Any, seconds: float) -> dict[str, Any]:
    (decision,) = await g.decide([request], at_offset(seconds))
    assert isinstance(decision, dict)
    return decision


async def test_a_gap_holds_until_exactly_its_end_and_counts_only_its_channels(
        backend: Backend, tmp_path: Path) -> None:
    g = await gap_gate(backend, tmp_path)
    assert (await decided(g, contact(1, "call", 0), 0))["decision"] == "allowed"
    email = await decided(g, contact(2, "email", 3600), 3600)  # neither held nor counted
    assert email["decision"] == "allowed"
    early = await decided(g, contact(3, "sms", 10799.999), 10799.999)
    assert early["decision"] == "blocked"
    assert [r["rule"] for r in early["reasons"]] == ["gap/three-hours"]
    assert early["retry_at"] == "2026-03-02T20:00:00.123Z"
    assert early["reasons"][0]["message"] == (
        "last call, text or visit to this debtor 2026-03-02T17:00:00.123Z; at least 3 hours "
        "must pass")
    on_time = await decided(g, contact(4, "visit", 10800), 10800)  # exactly 3 hours later
    assert on_time["decision"] == "allowed"
    fields = await backend.hash(counters_key("hot"))
    gap_fields = {k: v for k, v in fields.items() if k.startswith("t:")}
    assert len(gap_fields) == 2  # one per debtor, one for the number called
    assert str(round(at_offset(10800).timestamp() * 1000)) in gap_fields.values()  # epoch ms


async def test_a_shadow_gap_per_number_is_reported_and_counted_but_never_holds(
        backend: Backend, tmp_path: Path) -> None:
    g = await gap_gate(backend, tmp_path)
    await decided(g, contact(1, "call", 0), 0)
    again = await decided(g, contact(2, "call", 11000), 11000)
    assert again["decision"] == "allowed" and again["shadow"] == []
    soon = await decided(g, contact(3, "call", 11060), 11060)
    assert soon["decision"] == "blocked"  # by the three hours since the call at 11000
    assert [r["rule"] for r in soon["reasons"]] == ["gap/three-hours"]
    assert [r["rule"] for r in soon["shadow"]] == ["gap/five-minutes"]
    other_number = await decided(g, contact(4, "call", 11060, destination="+12125550199"),
                                 11060)
    assert [r["rule"] for r in other_number["reasons"]] == ["gap/three-hours"]
    assert other_number["shadow"] == []  # five minutes per number: another number is free


async def test_a_replay_of_a_gap_block_gets_the_same_decision(backend: Backend,
                                                             tmp_path: Path) -> None:
    g = await gap_gate(backend, tmp_path)
    await decided(g, contact(1, "call", 0), 0)
    first = await g.decide_recorded([contact(2, "sms", 60)], at_offset(60))
    fresh = await gap_gate(backend, tmp_path)  # no cache
    again = await fresh.decide_recorded([contact(2, "sms", 60)], at_offset(7200))
    assert again == first
    assert first[0][0]["decision"] == "blocked"  # type: ignore[index]


async def test_a_restored_allowed_decision_puts_its_gap_back(backend: Backend,
                                                            tmp_path: Path) -> None:
    g = await gap_gate(backend, tmp_path)
    recorded = []
    for i, channel, seconds in ((1, "call", 0), (2, "letter", 3600)):  # a letter counts not
        request = contact(i, channel, seconds)
        ((_, record),) = await g.decide_recorded([request], at_offset(seconds))
        recorded.append(("hot", request.request_id, lambda r=request: r, record))
    before = {k: v for k, v in (await backend.hash(counters_key("hot"))).items()
              if k.startswith("t:")}
    await backend.flush()
    g.store = await backend.store()  # a new, empty, trusted copy: the rebuild's
    assert (await g.restore(recorded, at_offset(3700)))["restored"] == 2
    after = {k: v for k, v in (await backend.hash(counters_key("hot"))).items()
             if k.startswith("t:")}
    assert after == before and len(after) == 2
    held = await decided(g, contact(3, "sms", 7200), 7200)
    assert held["decision"] == "blocked" and held["retry_at"] == "2026-03-02T20:00:00.123Z"


OPENS = datetime(2026, 3, 3, 13, 0, tzinfo=UTC)


async def test_the_schedule_parks_once_releases_in_order_and_forgets_finished_ones(
        backend: Backend) -> None:
    """schedule.lua (deferral): one partition's schedule through every operation."""
    from gatekeeper.counters import schedule_wire as sw
    run = (await backend.store()).run

    def entry(offset: int) -> sw.Entry:
        return sw.Entry(b"{}", b"D", f"first-{offset}", offset)

    later = OPENS + timedelta(minutes=1)
    answers = await run([sw.park_call(0, "B", OPENS, entry(11)),
                         sw.park_call(0, "A", OPENS, entry(10)),
                         sw.park_call(0, "C", later, entry(5)),
                         sw.park_call(0, "A", OPENS, entry(99))])  # a replay: parked already
    assert [sw.status(a) for a in answers] == [("parked", "1")] * 4
    size, due = sw.due_answer(0, (await run([sw.due_call(0, OPENS, 10)]))[0])
    assert size == 3 and [d.request_id for d in due] == ["A", "B"]  # C is not due yet
    assert due[0].entry == entry(10)
    # claimed: a cancel meanwhile is told the release is under way; nothing else sees it
    assert sw.status((await run([sw.claim_call(0, "A", 1, OPENS)]))[0])[0] == "claimed"
    assert sw.status((await run([sw.cancel_call(0, "A", OPENS, 3600)]))[0])[0] == "sending"
    _, due = sw.due_answer(0, (await run([sw.due_call(0, OPENS, 10)]))[0])
    assert [d.request_id for d in due] == ["B"]
    assert sw.status((await run([sw.finish_call(0, "A", 1, "released", OPENS, 3600)]))[0]) \
        == ("done", None)
    # finished: a replay of the request parks nothing, a cancel finds it finished
    assert sw.status((await run([sw.park_call(0, "A", OPENS, entry(10))]))[0]) == \
        ("finished", "released")
    assert sw.status((await run([sw.cancel_call(0, "A", OPENS, 3600)]))[0]) == \
        ("finished", "released")
    # parked again by an attempt: only the attempt that was decided moves it
    assert sw.status((await run([sw.repark_call(0, "B", 2, later, entry(11))]))[0])[0] == "gone"
    assert sw.status((await run([sw.repark_call(0, "B", 1, later, entry(11))]))[0]) == \
        ("parked", "2")
    _, due = sw.due_answer(0, (await run([sw.due_call(0, later, 10)]))[0])
    assert [(d.request_id, d.attempt) for d in due] == [("C", 1), ("B", 2)]
    assert sw.status((await run([sw.cancel_call(0, "C", later, 3600)]))[0])[0] == "cancelled"
    assert sw.status((await run([sw.cancel_call(0, "nobody", later, 3600)]))[0])[0] == \
        "unknown"
    # finished ids are forgotten after the keep time
    await run([sw.finish_call(0, "B", 2, "released", later + timedelta(hours=2), 3600)])
    assert sw.status((await run([sw.park_call(0, "A", OPENS, entry(10))]))[0])[0] == "parked"
