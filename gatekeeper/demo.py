"""The demo behind ``make demo``: the worker on the local stack with the default pack, fed
by a synthetic dialer, with a live summary of what was allowed, blocked and dead-lettered.

The dialer's mix: debtors around the world (so some are in their night right now), repeated
calls to the same numbers, letters with and without the required content, field visits for
young accounts, opt-outs, cease requests and hardship flags arriving as debtor events, and
malformed messages.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from gatekeeper.brokers import bootstrap
from gatekeeper.settings import Settings
from gatekeeper.topics import ensure_topics
from gatekeeper.views import HEADER, review_row

ZONES = [("US-NY", "America/New_York", "+1212555"), ("US-CA", "America/Los_Angeles", "+1415555"),
         ("GB", "Europe/London", "+44207946"), ("CN", "Asia/Shanghai", "+86105555"),
         ("CA-ON", "America/Toronto", "+1416555"), ("AU", "Australia/Sydney", "+61255550"),
         ("IN", "Asia/Kolkata", "+91115555"), ("BR", "America/Sao_Paulo", "+55115555")]
CONTENT = {"amount_due": 412.5, "currency": "USD", "due_date": "2026-12-31",
           "payment_options": ["card", "bank transfer"],
           "opt_out_instructions": "Reply STOP or call 0800 000 000"}


class Dialer:
    """A seeded generator of contact requests and debtor events."""

    def __init__(self, debtors: int, seed: int = 2026):
        self.rng = random.Random(seed)
        self.debtors = [self._debtor(i) for i in range(debtors)]
        self.sequence = 0

    def _debtor(self, i: int) -> dict[str, Any]:
        region, zone, prefix = self.rng.choice(ZONES)
        return {"id": f"D{i:05d}", "region": region, "timezone": zone,
                "phone": f"{prefix}{i % 10000:04d}", "dpd": self.rng.choice([15, 45, 95, 200])}

    def request(self) -> tuple[str, bytes]:
        self.sequence += 1
        debtor = self.rng.choice(self.debtors[: max(5, len(self.debtors) // 4)]
                                 if self.rng.random() < 0.5 else self.debtors)
        roll = self.rng.random()
        body: dict[str, Any] = {
            "request_id": f"demo-{self.sequence}", "debtor_id": debtor["id"],
            "requested_at": datetime.now(UTC).isoformat(), "source": "demo-dialer",
            "debt_id": f"{debtor['id']}-A",
            "debtor": {"region": debtor["region"], "timezone": debtor["timezone"],
                       "days_past_due": debtor["dpd"]},
        }
        if roll < 0.55:
            body.update(channel="call", destination=debtor["phone"])
        elif roll < 0.70:
            body.update(channel="sms", destination=debtor["phone"], content=CONTENT)
        elif roll < 0.80:
            content = CONTENT if self.rng.random() < 0.8 else {"amount_due": 412.5}
            body.update(channel="letter", destination=f"addr-{debtor['id']}", content=content)
        elif roll < 0.90:
            body.update(channel="email", destination=f"{debtor['id'].lower()}@example.com",
                        content=CONTENT)
        else:
            body.update(channel="visit", destination=f"addr-{debtor['id']}")
        return debtor["id"], orjson.dumps(body)

    def malformed(self) -> tuple[str, bytes]:
        return "D-bad", self.rng.choice([
            b"{not json", b'{"request_id": 42}', b"\xff\xfe\xfd",
            orjson.dumps({"request_id": "x", "debtor_id": "D1", "channel": "pigeon",
                          "destination": "roof", "requested_at": "2026-01-01T00:00:00Z"}),
            orjson.dumps({"request_id": "y", "debtor_id": "D1", "channel": "call",
                          "destination": "+12125550100", "requested_at": "yesterday"}),
        ])

    def event(self) -> tuple[str, bytes]:
        debtor = self.rng.choice(self.debtors)
        kind = self.rng.choice(["opt_out", "cease", "hardship", "attorney_represented"])
        body: dict[str, Any] = {"event_id": f"ev-{self.sequence}-{kind}",
                                "debtor_id": debtor["id"], "type": kind,
                                "occurred_at": datetime.now(UTC).isoformat()}
        if kind == "opt_out":
            body["channel"] = self.rng.choice(["sms", "email", "call"])
        if kind == "hardship":
            body["data"] = {"on": True}
        return debtor["id"], orjson.dumps(body)


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

    await ensure_topics(settings)
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.redis)
    await client.flushdb()
    await client.aclose()
    log_path = Path(".stack") / "demo-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    env = {**os.environ, "GATEKEEPER_BROKER": settings.broker, "GATEKEEPER_REDIS": settings.redis,
           "GATEKEEPER_TOPIC_PREFIX": settings.topic_prefix, "GATEKEEPER_APP_ID": settings.app_id,
           "GATEKEEPER_POLICY": settings.policy, "GATEKEEPER_METRICS_PORT": "0",
           "GATEKEEPER_SIGNING_KEY": settings.signing_key or "demo-signing-key"}
    print(f"starting the worker (policy {settings.policy}; log {log_path})", flush=True)
    with log_path.open("wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "gatekeeper", "worker"], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        await _wait_ready(log_path, worker)
        boot = bootstrap(settings.broker)
        producer = AIOKafkaProducer(bootstrap_servers=boot, linger_ms=5)
        consumer = AIOKafkaConsumer(*[settings.topics[k] for k in ("allowed", "review",
                                                                     "invalid")],
                                    bootstrap_servers=boot, auto_offset_reset="earliest",
                                    group_id=None)
        await producer.start()
        await consumer.start()
        kinds = {settings.topics[k]: k for k in ("allowed", "review", "invalid")}
        summary = Summary()
        dialer = Dialer(debtors)
        started = time.monotonic()
        print(f"dialer: {rate:.0f} requests/s for {seconds:.0f}s to {debtors} debtors in "
              f"{len(ZONES)} time zones (it is {datetime.now(UTC):%H:%M} UTC)", flush=True)
        try:
            next_print = 0.0
            while True:
                elapsed = time.monotonic() - started
                if elapsed < seconds:
                    due = int(elapsed * rate) - summary.produced
                    for _ in range(max(0, due)):
                        key, value = (dialer.malformed() if dialer.rng.random() < 0.02
                                      else dialer.request())
                        await producer.send(settings.topics["requests"], value, key=key.encode())
                        summary.produced += 1
                        if dialer.rng.random() < 0.03:
                            key, value = dialer.event()
                            await producer.send(settings.topics["events"], value,
                                                key=key.encode())
                elif summary.decided >= summary.produced or elapsed > seconds + 30:
                    break
                batches = await consumer.getmany(timeout_ms=100, max_records=2000)
                for tp, records in batches.items():
                    for record in records:
                        summary.add(kinds[tp.topic], record.value)
                if elapsed >= next_print:
                    print(summary.line(elapsed), flush=True)
                    next_print += 1.0
            print(summary.line(time.monotonic() - started))
            print(summary.report())
            lost = summary.produced - summary.decided
            print(f"\n{summary.produced} requests sent, {summary.decided} decided, "
                  f"{lost} unaccounted for.")
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


async def _wait_ready(log_path: Path, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited; see {log_path}")
        text = log_path.read_text(errors="replace")
        if "gatekeeper ready" in text and "Worker]: Ready" in text:
            return
        await asyncio.sleep(0.2)
    raise SystemExit(f"the worker did not become ready; see {log_path}")
