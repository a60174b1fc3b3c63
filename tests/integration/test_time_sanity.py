"""A future-dated event can never mask later real ones (debtor state is last-writer-wins by
event time, in Redis): through the stream layer and the real store."""

from __future__ import annotations

from datetime import timedelta

import orjson
from store_support import trusted_store

from gatekeeper.counters.keys import Hasher
from gatekeeper.gate import Gate
from gatekeeper.policy import load_policy
from gatekeeper.stream.process import process_events
from gatekeeper.stream.routing import Incoming
from gatekeeper.timeutil import format_utc, parse_rfc3339
from gatekeeper.validate import request_from_dict

NOW = parse_rfc3339("2026-03-02T17:00:00Z")  # noon in New York
HASHER = Hasher(b"time-sanity-test")


def event(kind: str, occurred_at: str, offset: int = 0) -> list[Incoming]:
    body = {"event_id": f"{kind}-{occurred_at}", "debtor_id": "d-time", "type": kind,
            "occurred_at": occurred_at}
    return [Incoming(b"d-time", orjson.dumps(body), "debtor.events", 0, offset)]


def call(request_id: str) -> object:
    return request_from_dict({"request_id": request_id, "debtor_id": "d-time",
                              "channel": "call", "destination": "+12125550100",
                              "requested_at": format_utc(NOW),
                              "debtor": {"timezone": "America/New_York"}})


async def test_a_future_dated_event_cannot_mask_a_later_cease(redis_url: str) -> None:
    gate = Gate(load_policy("default"), await trusted_store(redis_url), HASHER)
    # a cease_lifted four minutes ahead of the gate's clock: inside the tolerance, applied
    # at the clock
    ahead = format_utc(NOW + timedelta(minutes=4))
    assert await process_events(gate, event("cease_lifted", ahead), NOW) == []
    # two minutes later a real cease arrives: it must win
    later = NOW + timedelta(minutes=2)
    assert await process_events(gate, event("cease", format_utc(later)), later) == []
    (decision,) = await gate.decide([call("r-1")], later + timedelta(minutes=3))
    assert [r["rule"] for r in decision["reasons"]] == ["default/cease-and-status"]
    # a cease_lifted from year 9999 goes to the dead letters and changes nothing
    (dead,) = await process_events(gate, event("cease_lifted", "9999-12-31T23:59:59Z", 7),
                                   later)
    error = orjson.loads(dead.value)["error"]
    assert (error["field"], error["found"]) == ("occurred_at", "9999-12-31T23:59:59Z")
    (decision,) = await gate.decide([call("r-2")], later + timedelta(minutes=3))
    assert [r["rule"] for r in decision["reasons"]] == ["default/cease-and-status"]
    await gate.store.close()
