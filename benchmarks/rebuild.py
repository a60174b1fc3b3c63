"""How long the gate holds after losing Redis: the rebuild from the Kafka record, measured.

    .venv/bin/python benchmarks/rebuild.py [--debtors 100000] [--decisions 1000000]
                                           [--redis-db 13] [--keep] [--out FILE]

Writes a synthetic record of ``--debtors`` debtors into fresh topics of the local stack
(GATEKEEPER_BROKER, GATEKEEPER_REDIS): one profile event per debtor and an opt-out for one in
twenty on ``debtor.events``; ``--decisions`` decisions spread over the last seven days on
``contact.decisions``, as the worker records them (request, decision, ``gk-record`` header;
two in three allowed); an outcome for one allowed call in four on ``contact.outcomes``.
Then it rebuilds a flushed Redis database from that record with the worker's own code
(``Keeper.ensure(force=True)``, as ``gatekeeper restore`` does) and reports the time, the
rate and the Redis memory it took. The topics are deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import orjson
import redis
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gatekeeper import restore  # noqa: E402
from gatekeeper.brokers import bootstrap  # noqa: E402
from gatekeeper.counters.keys import Hasher  # noqa: E402
from gatekeeper.counters.store import Store  # noqa: E402
from gatekeeper.counters.wire import counted_fields, releasable_fields  # noqa: E402
from gatekeeper.gate import Gate, content_hash  # noqa: E402
from gatekeeper.memory import Keeper  # noqa: E402
from gatekeeper.model import DebtorState  # noqa: E402
from gatekeeper.plan import make_plan  # noqa: E402
from gatekeeper.policy import load_policy  # noqa: E402
from gatekeeper.settings import Settings  # noqa: E402
from gatekeeper.topics import ensure_topics  # noqa: E402
from gatekeeper.validate import request_from_dict  # noqa: E402

ZONES = [("US-NY", "America/New_York", "+1212"), ("GB", "Europe/London", "+44207"),
         ("DE", "Europe/Berlin", "+4930"), ("IN", "Asia/Kolkata", "+9111"),
         ("JP", "Asia/Tokyo", "+813")]
CHANNELS = ["call", "call", "call", "sms", "email", "letter"]
EMPTY = DebtorState()


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def debtor(i: int) -> tuple[str, str, str, str]:
    region, zone, prefix = ZONES[i % len(ZONES)]
    return f"D{i:07d}", region, zone, f"{prefix}{i % 10_000_000:07d}"


async def write_record(settings: Settings, debtors: int, decisions: int, seed: int
                       ) -> dict[str, int]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    policy = load_policy(settings.policy)
    hasher = Hasher(settings.hashing_key)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(settings.broker), acks=1,
                                linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    counts = {"events": 0, "decisions": 0, "outcomes": 0}
    try:
        pending = []

        async def send(kind: str, key: str, value: bytes, at: datetime,
                       headers: list[tuple[str, bytes]] | None = None) -> None:
            pending.append(await producer.send(settings.topics[kind], value, key=key.encode(),
                                               headers=headers,
                                               timestamp_ms=int(at.timestamp() * 1000)))
            counts[kind] += 1
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()

        start = now - timedelta(days=8)
        for i in range(debtors):
            debtor_id, region, zone, _ = debtor(i)
            body = {"event_id": f"p-{i}", "debtor_id": debtor_id, "type": "profile",
                    "occurred_at": _stamp(start), "data": {"region": region, "timezone": zone}}
            await send("events", debtor_id, orjson.dumps(body), start)
            if i % 20 == 0:
                body = {"event_id": f"o-{i}", "debtor_id": debtor_id, "type": "opt_out",
                        "channel": "sms", "occurred_at": _stamp(start)}
                await send("events", debtor_id, orjson.dumps(body), start)
        span = 7 * 86400
        for n in range(decisions):
            i = rng.randrange(debtors)
            debtor_id, _, zone, number = debtor(i)
            at = now - timedelta(seconds=span * (1 - n / decisions))
            channel = rng.choice(CHANNELS)
            destination = number if channel in ("call", "sms") else (
                f"{debtor_id.lower()}@example.com" if channel == "email" else f"addr-{i}")
            request = {"request_id": f"r-{n}", "debtor_id": debtor_id, "channel": channel,
                       "destination": destination, "requested_at": _stamp(at),
                       "debt_id": f"{debtor_id}-1",
                       "debtor": {"region": ZONES[i % len(ZONES)][0], "timezone": zone}}
            allowed = rng.random() < 2 / 3
            evaluated = _stamp(at)
            decision = {"decision_id": f"x{n}", "request_id": request["request_id"],
                        "debtor_id": debtor_id, "decision": "allowed" if allowed else "blocked",
                        "reasons": [], "retry_at": None, "policy": "bench",
                        "evaluated_at": evaluated, "shadow": []}
            parsed = request_from_dict(request)
            counted: tuple[str, ...] = ()
            releasable: tuple[str, ...] = ()
            gaps: tuple[str, ...] = ()
            if allowed:  # what the worker records with an allowed decision: its counted fields
                plan = make_plan(parsed, policy, EMPTY, at, hasher)
                counted, releasable = counted_fields(plan), releasable_fields(plan)
                gaps = tuple(plan.gap_writes)
            record = " ".join(("a" if allowed else "b", f"{at.timestamp():.3f}",
                               content_hash(parsed), "-", "-", "-", hasher.key_id,
                               ",".join(counted) or "-", ",".join(releasable) or "-",
                               ",".join(gaps) or "-"))
            value = orjson.dumps({"request": request, "decision": decision, "via": "stream"})
            await send("decisions", debtor_id, value, at, [("gk-record", record.encode())])
            if allowed and channel == "call" and n % 4 == 0:
                outcome = {"request_id": request["request_id"], "debtor_id": debtor_id,
                           "outcome": rng.choice(["no_answer", "voicemail", "conversation"]),
                           "occurred_at": _stamp(at + timedelta(minutes=2))}
                await send("outcomes", debtor_id, orjson.dumps(outcome),
                           at + timedelta(minutes=2))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return counts


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--debtors", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/rebuild.json")
    args = parser.parse_args()
    base = os.environ.get("GATEKEEPER_REDIS", "redis://127.0.0.1:6379/0")
    redis_url = base.rsplit("/", 1)[0] + f"/{args.redis_db}"
    prefix = f"rebuild{int(time.time())}."
    settings = Settings.from_env(redis=redis_url, topic_prefix=prefix, policy="default",
                                 hash_key="rebuild-bench-key", partitions=4)
    await ensure_topics(settings)
    started = time.monotonic()
    counts = await write_record(settings, args.debtors, args.decisions, args.seed)
    written = time.monotonic() - started
    print(f"record written in {written:.1f}s: {counts}", flush=True)

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    store = Store.from_url(redis_url, timeout=30.0)
    await store.load_scripts()
    gate = Gate(load_policy("default"), store, Hasher(settings.hashing_key))
    keeper = Keeper(store, settings.hashing_key, partial(restore.rebuild, settings, gate),
                    progress=lambda text: print(f"  {text}", flush=True))
    started = time.monotonic()
    await keeper.ensure(force=True)
    seconds = time.monotonic() - started
    memory = int(client.info("memory")["used_memory"])
    keys = int(client.dbsize())
    await store.close()
    messages = sum(counts.values())
    result = {"debtors": args.debtors, "written": counts, "rebuild_seconds": round(seconds, 1),
              "messages_per_second": round(messages / seconds),
              "stats": keeper.last_stats, "redis_used_memory_bytes": memory,
              "redis_keys": keys, "machine_cores": os.cpu_count(),
              "at": datetime.now(UTC).isoformat(timespec="seconds")}
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if not args.keep:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(settings.broker))
        await admin.start()
        try:
            await admin.delete_topics([t for t in settings.topics.values()])
        finally:
            await admin.close()
        client.flushdb()


if __name__ == "__main__":
    asyncio.run(main())
