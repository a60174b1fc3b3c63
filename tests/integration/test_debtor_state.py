"""The console's "State now" panel (console/debtor_state.py) reads the debtor's hashes from a
real redis-server: a profile without a time zone shows the zone of the latest request, which
the gate uses, instead of "unknown"."""

from __future__ import annotations

import redis

from gatekeeper.console.debtor_state import read_state
from gatekeeper.counters.keys import counters_key, state_key
from gatekeeper.counters.store import Store


async def test_a_profile_without_a_zone_shows_the_latest_requests_zone(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.hset(counters_key("D1"), mapping={"last": "1795929476121"})
    client.hset(state_key("D2"), mapping={"v": "1", "p:timezone": "1|Europe/Paris"})
    client.close()
    store = Store.from_url(redis_url)
    try:
        from_request = await read_state(store, "D1", "default", "America/Chicago")
        nothing = await read_state(store, "D1", "default")
        profiled = await read_state(store, "D2", "default", "America/Chicago")
        unknown = await read_state(store, "nobody", "default", "America/Chicago")
    finally:
        await store.close()
    assert dict(from_request.profile)["time zone"] == \
        "America/Chicago (from the latest request; none in the profile)"
    assert dict(nothing.profile)["time zone"] == "unknown"
    assert dict(profiled.profile)["time zone"] == "Europe/Paris"  # the profile's wins
    assert not unknown.found
