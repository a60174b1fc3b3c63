"""Releases of requests parked until one instant, measured: the pace, the order and the lag.

    .venv/bin/python benchmarks/deferral.py [--requests 20000] [--rate 5000]
                                            [--partitions 4] [--redis-db 12]

Parks ``--requests`` requests (one debtor each, a visit that a one-rule pack allows) in the
schedules of ``--partitions`` request partitions of a flushed Redis database
(GATEKEEPER_REDIS), all until one instant two seconds ahead, then runs the worker's release
loop (``deferral/service.py``, its gate and Lua) at ``--rate`` per second with a producer that
only keeps what it is given, until every one is released. Reports releases per second, the
lag from ``deferred_until`` to each release's decision (p50, p99, max), and whether the
releases of each partition came in request order. No Kafka.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gatekeeper.counters import schedule_wire as sw  # noqa: E402
from gatekeeper.counters.keys import Hasher  # noqa: E402
from gatekeeper.counters.store import Store  # noqa: E402
from gatekeeper.deferral.schedule import Schedule  # noqa: E402
from gatekeeper.deferral.service import Releaser  # noqa: E402
from gatekeeper.gate import Gate  # noqa: E402
from gatekeeper.memory import Keeper, initialize_empty  # noqa: E402
from gatekeeper.policy import load_policy  # noqa: E402
from gatekeeper.stream.runner import Runner  # noqa: E402

KEY = b"deferral-bench"
PACK = """
pack: bench
title: what a release decides on (the schedule is measured, not the rules)
applies_to: ["*"]
rules:
  - id: visits-per-day
    kind: limit
    citation: bench
    channels: [visit]
    max: 1
    window: {calendar: day}
  - id: opt-outs
    kind: opt_out
    citation: bench
"""


def request(i: int, now: datetime) -> bytes:
    return orjson.dumps({"request_id": f"bench-{i}", "debtor_id": f"debtor-{i}",
                         "channel": "visit", "destination": f"addr-{i}",
                         "requested_at": now.isoformat(), "debtor": {"timezone": "UTC"},
                         "on_block": "defer"})


async def main(args: argparse.Namespace) -> dict[str, Any]:
    base = os.environ.get("GATEKEEPER_REDIS", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    url = f"{base}/{args.redis_db}"
    redis.Redis.from_url(url).flushdb()
    store = Store.from_url(url)
    await store.load_scripts()
    await initialize_empty(store, KEY, purpose="benchmark")
    now = datetime.now(UTC)
    until = now + timedelta(seconds=2)
    calls = [sw.park_call(i % args.partitions, f"bench-{i}", until,
                          sw.Entry(request(i, now), f"debtor-{i}".encode(), f"first-{i}", i))
             for i in range(args.requests)]
    for at in range(0, len(calls), 2000):
        await store.run(calls[at:at + 2000])
    pack = Path(tempfile.mkdtemp()) / "bench.yaml"
    pack.write_text(PACK)
    gate = Gate(load_policy([str(pack)]), store, Hasher(KEY))
    released: list[tuple[float, int, int]] = []  # (lag, partition, offset)

    async def produce(outputs: Any) -> None:
        stamp = datetime.now(UTC)
        for out in outputs:
            if out.kind in ("review", "deferred"):
                raise RuntimeError(f"not released: {out.value[:300]!r}")
            if out.kind == "allowed":
                body = orjson.loads(out.value)
                i = int(body["request_id"].split("-")[1])
                released.append(((stamp - until).total_seconds(), i % args.partitions, i))

    async def never(progress: Any) -> dict[str, Any]:
        raise RuntimeError("the benchmark's store was lost")

    releaser = Releaser(gate, Schedule(store), Runner(produce, Keeper(store, KEY, never)),
                        lambda: list(range(args.partitions)), signing_key=b"bench",
                        rate=args.rate, batch=args.batch)
    await asyncio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()))
    started = time.monotonic()
    while len(released) < args.requests:
        if await releaser.step() == 0:
            await asyncio.sleep(0.01)
    seconds = time.monotonic() - started
    await store.close()
    lags = sorted(lag for lag, _, _ in released)
    in_order = all(
        [o for _, p, o in released if p == part] == sorted(o for _, p, o in released if p == part)
        for part in range(args.partitions))
    return {"requests": args.requests, "rate_setting": args.rate, "seconds": round(seconds, 2),
            "released_per_second": round(args.requests / seconds),
            "lag_p50_s": round(lags[len(lags) // 2], 3),
            "lag_p99_s": round(lags[int(len(lags) * 0.99)], 3), "lag_max_s": round(lags[-1], 3),
            "in_request_order": in_order, "load_average": os.getloadavg()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500, help="GATEKEEPER_BATCH_SIZE")
    parser.add_argument("--redis-db", type=int, default=12)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
