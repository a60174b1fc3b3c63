"""The demo behind ``make demo``: the worker on the local stack with the default pack, fed
by a synthetic dialer, with a live summary of what was allowed, blocked and dead-lettered.

The dialer is gatekeeper.traffic with its DEMO profile: debtors around the world (so some are
in their night right now), repeated calls to the same numbers, letters with and without the
required content, field visits for young accounts, opt-outs, cease requests and hardship
flags arriving as debtor events, and malformed messages. A synthetic carrier reports an
outcome for every allowed contact (``analytics.synthetic.live_outcome``), so ``gatekeeper
report`` and ``backtest`` have the whole record to work on afterwards.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson

from gatekeeper.analytics.synthetic import live_outcome
from gatekeeper.brokers import BrokerURLError, bootstrap
from gatekeeper.kafka_security import kafka_options
from gatekeeper.readiness import NotReady, Readiness
from gatekeeper.redis_security import redis_options
from gatekeeper.settings import Settings
from gatekeeper.topics import ensure_topics
from gatekeeper.traffic import DEMO, Traffic
from gatekeeper.views import HEADER, review_row


class Summary:
    def __init__(self) -> None:
        self.allowed = 0
        self.invalid = 0
        self.blocked: Counter[str] = Counter()
        self.reviews: list[bytes] = []
        self.produced = 0

    @property
    def decided(self) -> int:
        return self.allowed + self.invalid + len(self.reviews)

    def add(self, kind: str, value: bytes) -> None:
        if kind == "allowed":
            self.allowed += 1
        elif kind == "invalid":
            self.invalid += 1
        else:
            self.reviews.append(value)
            for reason in orjson.loads(value)["decision"]["reasons"]:
                self.blocked[reason["rule"]] += 1

    def line(self, elapsed: float) -> str:
        return (f"[{elapsed:5.1f}s] sent {self.produced:6d}  decided {self.decided:6d}  "
                f"allowed {self.allowed:6d}  blocked {len(self.reviews):6d}  "
                f"invalid {self.invalid:5d}")

    def report(self) -> str:
        lines = ["", "blocked, by rule (a request may break several):"]
        for rule, count in self.blocked.most_common():
            lines.append(f"  {rule:<42} {count:6d}")
        lines += ["", "latest on the review topic:", "  " + HEADER]
        lines += ["  " + review_row(v) for v in self.reviews[-8:]]
        return "\n".join(lines)


async def run_demo(settings: Settings, seconds: float, rate: float, debtors: int) -> int:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    try:
        boot = bootstrap(settings.broker)
    except BrokerURLError as exc:
        raise SystemExit(str(exc)) from None
    await ensure_topics(settings)
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.redis, **redis_options(settings.redis))
    await client.flushdb()
    await client.aclose()
    log_path = Path(".stack") / "demo-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    env = {**os.environ, "GATEKEEPER_BROKER": settings.broker, "GATEKEEPER_REDIS": settings.redis,
           "GATEKEEPER_TOPIC_PREFIX": settings.topic_prefix, "GATEKEEPER_APP_ID": settings.app_id,
           "GATEKEEPER_POLICY": settings.policy, "GATEKEEPER_METRICS_PORT": "0",
           "GATEKEEPER_SIGNING_KEY": settings.signing_key or "demo-signing-key",
           "GATEKEEPER_HASH_KEY": settings.hash_key or "demo-hash-key"}
    print(f"starting the worker (policy {settings.policy}; log {log_path})", flush=True)
    with log_path.open("wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "gatekeeper", "worker"], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            await Readiness("the worker", log_path, worker).wait_async(90)
        except NotReady as exc:
            raise SystemExit(f"{exc}\n(the whole log: {log_path})") from None
        producer = AIOKafkaProducer(bootstrap_servers=boot, linger_ms=5, **kafka_options())
        consumer = AIOKafkaConsumer(*[settings.topics[k] for k in ("allowed", "review",
                                                                     "invalid")],
                                    bootstrap_servers=boot, auto_offset_reset="earliest",
                                    group_id=None, **kafka_options())
        await producer.start()
        await consumer.start()
        kinds = {settings.topics[k]: k for k in ("allowed", "review", "invalid")}
        summary = Summary()
        dialer = Traffic(DEMO, debtors, run="demo")
        carrier = random.Random(7)  # outcomes of allowed contacts (analytics.synthetic)
        started = time.monotonic()
        print(f"dialer: {rate:.0f} requests/s for {seconds:.0f}s to {debtors} debtors in "
              f"{len(DEMO.zones)} time zones (it is {datetime.now(UTC):%H:%M} UTC)", flush=True)
        try:
            next_print = 0.0
            while True:
                elapsed = time.monotonic() - started
                if elapsed < seconds:
                    due = int(elapsed * rate) - summary.produced
                    for _ in range(max(0, due)):
                        key, value = dialer.message()  # 2 % malformed
                        await producer.send(settings.topics["requests"], value, key=key)
                        summary.produced += 1
                        if dialer.rng.random() < 0.03:
                            event = dialer.event()
                            await producer.send(settings.topics["events"], orjson.dumps(event),
                                                key=event["debtor_id"].encode())
                elif summary.decided >= summary.produced or elapsed > seconds + 30:
                    break
                batches = await consumer.getmany(timeout_ms=100, max_records=2000)
                for tp, records in batches.items():
                    for record in records:
                        summary.add(kinds[tp.topic], record.value)
                        if kinds[tp.topic] == "allowed":  # the carrier reports how it went
                            outcome = live_outcome(orjson.loads(record.value),
                                                   datetime.now(UTC), carrier)
                            await producer.send(settings.topics["outcomes"],
                                                orjson.dumps(outcome), key=record.key)
                if elapsed >= next_print:
                    print(summary.line(elapsed), flush=True)
                    next_print += 1.0
            print(summary.line(time.monotonic() - started))
            print(summary.report())
            lost = summary.produced - summary.decided
            print(f"\n{summary.produced} requests sent, {summary.decided} decided, "
                  f"{lost} unaccounted for.")
            print(f"what it recorded: gatekeeper report --topic-prefix "
                  f"{settings.topic_prefix} --since 1h; gatekeeper backtest --policy PACK "
                  f"--topic-prefix {settings.topic_prefix} --since 1h")
            from gatekeeper.console.demo import start_console

            print("\n".join(start_console(env)), flush=True)
            return 0 if lost == 0 else 1
        finally:
            await producer.stop()
            await consumer.stop()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        print("worker stopped.")

