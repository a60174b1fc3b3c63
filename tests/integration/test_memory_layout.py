"""A store written in an older layout (keys.LAYOUT) is never read as if it were of this
version's: the guard finds the layout in the meta hash, and the store is rebuilt from the
Kafka record, which every version writes in the same words. Real Kafka, real redis-server."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
import redis
from test_memory import (  # noqa: F401 - the settings fixture, collected here too
    KEY,
    RECORD,
    decide_and_record,
    live_gate,
    request,
    settings,
)

from gatekeeper import restore
from gatekeeper.counters import guard
from gatekeeper.counters.keys import LAYOUT, META_KEY, counters_key
from gatekeeper.memory import Keeper
from gatekeeper.settings import TOPIC_DEFAULTS, Settings
from gatekeeper.validate import parse_request


async def test_a_store_of_the_older_layout_is_rebuilt_not_misread(
        stack: Any, settings: Settings,  # noqa: F811 - the fixture imported above
        create_topics: Any, redis_url: str) -> None:
    await create_topics(*(TOPIC_DEFAULTS[k] for k in RECORD), partitions=2)
    now = datetime.now(UTC).replace(microsecond=0)
    gate = await live_gate(settings)
    first = [request("r1", "called", "+12125550101", now)]
    assert await decide_and_record(stack, settings, gate, first, now) == ["allowed"]
    before = (await gate.decide([parse_request(orjson.dumps(first[0]))], now))[0]

    # the store as the previous version left it: a meta hash without a layout, and its
    # records under "r<generation>:<12 hex>" in eight words (this version would not find them)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.hdel(META_KEY, "layout")
    key = counters_key("called")
    old = {k: v for k, v in client.hgetall(key).items() if k.startswith("r")}
    client.hdel(key, *old)
    gen = int(now.timestamp()) // gate.ttls.decision_seconds
    client.hset(key, f"r{gen}:0123456789ab", f"a {now.timestamp():.3f} 0123456789 0 - - - -")

    verdict = await guard.verify(gate.store, guard.key_id(KEY), 0.0)
    assert not verdict.trusted and verdict.rebuild
    assert f"layout 1 (written by an older version); this version reads layout {LAYOUT}" in (
        verdict.reason)

    gate.store.epoch = None  # as a worker of this version starts: it verifies first
    keeper = Keeper(gate.store, KEY, partial(restore.rebuild, settings, gate))
    await keeper.ensure()
    assert keeper.ready and keeper.last_stats["restored"] == 1
    assert client.hget(META_KEY, "layout") == LAYOUT
    assert not [k for k in client.hgetall(key) if ":" in k]  # the old layout's fields are gone
    again = (await gate.decide([parse_request(orjson.dumps(first[0]))], now))[0]
    assert again == before  # the replay finds the rebuilt record
    (second,) = await gate.decide(
        [parse_request(orjson.dumps(request("r2", "called", "+12125550101", now)))], now)
    assert second["decision"] == "blocked"  # type: ignore[index] - and its count binds
    client.close()
    await gate.store.close()
