"""The one synthetic traffic generator (demo, benchmark, fault suite): valid requests, the
shapes each profile promises, and a benchmark mix that does not drift."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from gatekeeper.errors import InvalidInput
from gatekeeper.traffic import (
    BENCH,
    DEMO,
    MALFORMED_KEY,
    Traffic,
    fault_profile,
    zone_at,
)
from gatekeeper.validate import event_from_dict, parse_request

PROFILES = {"bench": BENCH, "demo": DEMO, "faults": fault_profile()}


def test_the_benchmark_mix_is_pinned() -> None:
    """These bytes are what benchmarks/mix.py drew: figures stay comparable across revisions.
    Change BENCH (or the drawing code) only with a new pin and a note in benchmarks/README.md."""
    now = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)
    traffic = Traffic(BENCH, 5000, seed=2026, run="pin", now=now)
    digest = hashlib.sha256()
    for _ in range(3000):
        key, value = traffic.message(now)
        digest.update(key + b"\0" + value + b"\n")
    assert digest.hexdigest() == (
        "bbbaee850fb57ccbe3644247aa1674c61fc4cc36f40a6081ab3fb6c293b82085")


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_the_same_seed_draws_the_same_stream_and_another_seed_another(name: str) -> None:
    now = datetime.now(UTC)
    a, b, c = (Traffic(PROFILES[name], 500, seed=s, now=now) for s in (1, 1, 2))
    first = [a.message(now) for _ in range(300)]
    assert first == [b.message(now) for _ in range(300)]
    assert first != [c.message(now) for _ in range(300)]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_requests_meet_the_contract_and_malformed_ones_do_not(name: str) -> None:
    traffic = Traffic(PROFILES[name], 300, seed=3)
    valid = malformed = 0
    for _ in range(3000):
        key, value = traffic.message()
        if key == MALFORMED_KEY:
            malformed += 1
            with pytest.raises(InvalidInput):
                parse_request(value)
        else:
            request = parse_request(value)
            assert request.debtor_id.encode() == key
            valid += 1
    assert valid > 2500
    assert (malformed > 0) == (PROFILES[name].malformed_share > 0)
    for event in traffic.events(0.1):
        assert event_from_dict(event).debtor_id == event["debtor_id"]


def test_the_benchmark_shares_hold() -> None:
    now = datetime.now(UTC)
    traffic = Traffic(BENCH, 20_000, seed=5, now=now)
    kinds: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    debtors: Counter[str] = Counter()
    seen: set[bytes] = set()
    n = 40_000
    for _ in range(n):
        key, value = traffic.message(now)
        if key == MALFORMED_KEY:
            kinds["malformed"] += 1
            continue
        if value in seen:
            kinds["resend"] += 1
            continue
        seen.add(value)
        body = orjson.loads(value)
        channels[body["channel"]] += 1
        debtors[body["debtor_id"]] += 1
    assert kinds["malformed"] / n == pytest.approx(0.02, abs=0.004)
    assert kinds["resend"] / n == pytest.approx(0.01, abs=0.003)
    total = sum(channels.values())
    for channel, share in BENCH.channels:
        assert channels[channel] / total == pytest.approx(share, abs=0.015), channel
    hot = sum(debtors[traffic.debtors[i].id] for i in traffic.hot)
    assert hot / total >= 0.02  # 2 % aimed at the 10 hottest, plus their uniform share
    night = sum(1 for d in traffic.debtors if d.timezone in traffic.night_zones)
    if traffic.night_zones and len(traffic.night_zones) < len(BENCH.zones):
        assert night / len(traffic.debtors) == pytest.approx(0.2, abs=0.02)


def test_the_fault_profile_has_two_debts_three_channels_and_a_day_and_a_night_zone() -> None:
    now = datetime.now(UTC)
    traffic = Traffic(fault_profile(now), 2000, seed=1, now=now)
    bodies = [orjson.loads(v) for _, v in traffic.batch(3000)]
    assert {b["channel"] for b in bodies} == {"call", "email", "letter"}
    assert {b["debt_id"].rsplit("-", 1)[1] for b in bodies} == {"A", "B"}
    hours = {now.astimezone(ZoneInfo(b["debtor"]["timezone"])).hour for b in bodies}
    assert hours <= {0, 1, 2, 12, 13, 14} and len(hours) == 2
    assert all(b["debtor"].keys() == {"timezone"} for b in bodies)
    hot = Counter(b["debtor_id"] for b in bodies).most_common(3)
    assert sum(count for _, count in hot) / len(bodies) >= 0.13  # 15 % aimed at them


def test_the_demo_profile_speaks_like_the_demo_dialer() -> None:
    traffic = Traffic(DEMO, 400, seed=2026, run="demo")
    key, value = traffic.request()
    body = orjson.loads(value)
    assert body["request_id"] == "demo-1" and body["source"] == "demo-dialer"
    assert body["debtor_id"].startswith("D") and len(body["debtor_id"]) == 6
    assert "creditor_id" not in body and "destination_kind" not in body
    assert {d.region for d in traffic.debtors} <= {z.region for z in DEMO.zones}
    assert len(DEMO.zones) == 8


@pytest.mark.parametrize("hour", [0, 1, 8, 13, 21, 23])
def test_zone_at_gives_a_zone_at_that_local_hour(hour: int) -> None:
    for utc_hour in range(24):
        now = datetime(2026, 3, 2, utc_hour, 30, tzinfo=UTC)
        assert now.astimezone(ZoneInfo(zone_at(hour, now))).hour == hour

