"""gatekeeper benchmark: the worker side by side with a faust and a plain aiokafka passthrough.

Run through ``benchmarks/run`` (see benchmarks/README.md for the method and the figures).
One run:

1. brings up the local stack (scripts/stack up, honouring GK_STACK_DIR, GK_KAFKA_PORT,
   GK_KAFKA_CONTROLLER_PORT, GK_REDIS_PORT);
2. generates the request mix (benchmarks/mix.py) and pre-produces N messages to one input
   topic (4 partitions);
3. saturation: each app in turn, as subprocesses with their own consumer group and output
   topics, moves the N messages: a plain aiokafka loop, a faust passthrough
   (gatekeeper/stream/passthrough.py, built like create_app), and ``gatekeeper worker`` with
   the ``default`` pack (debtor events for 5 % of the book on its debtor.events topic).
   Throughput is N over the span between the first and the last output record's timestamp
   (the app's own produce clock), so start-up and group join are not counted;
4. latency: a fresh worker (then a fresh faust passthrough) offered a fixed 250/s and then
   1,000/s after a warm-up; end to end from the harness's send() to the output record's
   LogAppendTime on allowed/review (read afterwards: no consumer competes for the CPU);
5. Redis cost: round trips per request batch (the worker's Store pipelines, exported by
   benchmarks/gk_worker.py, over its gatekeeper_batch_size histogram count), Redis CPU per
   decision (INFO cpu), bytes per active debtor (INFO memory used_memory), and the decide
   Lua script alone vs a plain SET, both pipelined (redis-py, as the worker, and
   redis-benchmark when installed);
6. optionally (--profile) one more worker run under py-spy, summarised by component;
7. writes benchmarks/results/latest.json (and full.json / quick.json) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from mix import Mix  # noqa: E402

PARTITIONS = 4
PHASES = frozenset({"aiokafka", "faust", "gatekeeper", "latency", "lua"})
SOURCE: dict[str, Any] = {"dir": ROOT}  # where the benchmarked gatekeeper package is (--ref)
SIGNING_KEY = "bench-signing-key"
HASH_KEY = "bench-hash-key"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = {
    "throughput": "gatekeeper >= 80% of faust passthrough",
    "latency": "p99 <= 25 ms at 1,000 requests/s",
    "roundtrips": "<= 1 Redis round trip per batch",
    "memory": "<= 300 bytes of Redis per active debtor",
}


@dataclass
class Config:
    quick: bool
    messages: int
    debtors: int
    rate: float
    latency_seconds: float
    warmup_seconds: float
    lua_calls: int
    low_rate: float = 250.0
    low_seconds: float = 10.0
    event_share: float = 0.05
    redis_db: int = 12
    profile: bool = False
    phases: frozenset[str] = PHASES
    profile_seconds: float = 0.0
    keep: bool = False
    timeout: float = 300.0
    wait_idle: float = 0.0
    workers: int = 1
    seed: str = "topic"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Config:
        if args.quick:
            base = cls(quick=True, messages=10_000, debtors=100_000, rate=1000.0,
                       latency_seconds=8.0, warmup_seconds=2.0, lua_calls=10_000,
                       low_seconds=4.0, timeout=90.0)
        else:
            base = cls(quick=False, messages=150_000, debtors=100_000, rate=1000.0,
                       latency_seconds=30.0, warmup_seconds=3.0, lua_calls=40_000,
                       low_seconds=15.0)
        for name in ("messages", "debtors", "rate", "latency_seconds", "redis_db", "low_rate"):
            value = getattr(args, name)
            if value is not None:
                setattr(base, name, value)
        base.wait_idle = args.wait_idle if args.wait_idle is not None else (
            0.0 if base.quick else 60.0)
        base.profile = args.profile
        base.workers = max(1, args.workers or 1)
        base.seed = args.seed
        if args.phases:
            wanted = frozenset(p.strip() for p in args.phases.split(",") if p.strip())
            unknown = wanted - PHASES
            if unknown:
                raise SystemExit(f"benchmarks/run: unknown phases {sorted(unknown)}; "
                                 f"choose from {sorted(PHASES)}")
            base.phases = wanted
        base.keep = args.keep
        return base


# ------------------------------------------------------------------ progress and output

class Progress:
    """One status line, rewritten in place on a terminal; every few seconds otherwise."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.tty = sys.stdout.isatty()
        self.last_print = 0.0
        self.width = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, text: str) -> None:
        line = f"[{self.elapsed():6.1f}s] {text}"
        if self.tty:
            if time.monotonic() - self.last_print < 0.2:
                return
            self.last_print = time.monotonic()
            pad = max(0, self.width - len(line))
            sys.stdout.write("\r" + line + " " * pad)
            sys.stdout.flush()
            self.width = len(line)
        elif time.monotonic() - self.last_print >= 5.0:
            print(line, flush=True)
            self.last_print = time.monotonic()

    def done(self, text: str) -> None:
        line = f"[{self.elapsed():6.1f}s] {text}"
        if self.tty:
            pad = max(0, self.width - len(line))
            sys.stdout.write("\r" + line + " " * pad + "\n")
            self.width = 0
        else:
            print(line)
        sys.stdout.flush()
        self.last_print = 0.0


P = Progress()


# ------------------------------------------------------------------ processes

@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_bytes().decode("utf-8", "replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def cpu_seconds(self) -> float:
        return proc_cpu(self.process.pid)


CHILDREN: list[Child] = []


def start_child(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, env={**os.environ, **env}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   cwd=str(SOURCE["dir"]))
    child = Child(name, process, log_path)
    CHILDREN.append(child)
    return child


def stop_child(child: Child, timeout: float = 20.0) -> None:
    """SIGTERM to the child's own process group (it was started in a new session), then
    SIGKILL after ``timeout``."""
    if child.alive:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signal.SIGTERM)
        try:
            child.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait(5)
    if child in CHILDREN:
        CHILDREN.remove(child)


def stop_all_children() -> None:
    for child in list(CHILDREN):
        with contextlib.suppress(Exception):
            stop_child(child, timeout=10.0)


class Apps(list[Child]):
    """The processes of one app under test (``--workers``): one consumer group."""

    @property
    def name(self) -> str:
        return self[0].name

    @property
    def alive(self) -> bool:
        return all(c.alive for c in self)

    @property
    def pids(self) -> list[int]:
        return [c.process.pid for c in self]

    def tail(self, lines: int = 30) -> str:
        dead = [c for c in self if not c.alive]
        return (dead or self)[0].tail(lines)

    def cpu_seconds(self) -> float:
        return sum(c.cpu_seconds() for c in self)


def start_apps(name: str, argv: list[str], envs: Sequence[dict[str, str]],
               log_dir: Path) -> Apps:
    return Apps(start_child(name if len(envs) == 1 else f"{name}-{i + 1}", argv, env, log_dir)
                for i, env in enumerate(envs))


def stop_apps(apps: Sequence[Child]) -> None:
    for child in apps:  # SIGTERM to all first: they leave the group together
        if child.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGTERM)
    for child in apps:
        stop_child(child)


async def wait_ready(child: Child | Apps, needles: Sequence[str], timeout: float = 90.0
                     ) -> None:
    if isinstance(child, Apps):
        for one in child:
            await wait_ready(one, needles, timeout)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive:
            raise RuntimeError(f"{child.name} exited ({child.process.returncode}):\n"
                               + child.tail())
        text = child.log_text()
        if all(n in text for n in needles):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{child.name} did not become ready in {timeout:.0f}s:\n" + child.tail())


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return float("nan")


def system_busy() -> float:
    """Busy CPU seconds of the whole machine (all cores) since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


def cpu_snapshot(pids: Mapping[str, int | Sequence[int] | None]) -> dict[str, float]:
    def cpu(pid: int | Sequence[int] | None) -> float:
        if not pid:
            return float("nan")
        return proc_cpu(pid) if isinstance(pid, int) else sum(proc_cpu(p) for p in pid)

    snap = {name: cpu(pid) for name, pid in pids.items()}
    snap["machine"] = system_busy()
    return snap


def cpu_cores(before: dict[str, float], after: dict[str, float], wall: float
              ) -> dict[str, float]:
    """Cores used per process over ``wall`` seconds; "others" is everything else on the
    machine (other people's tests, say): a run with others well above 0.1 is disturbed."""
    if wall <= 0:
        return {}
    cores = {k: round((after[k] - before[k]) / wall, 2) for k in before}
    mine = sum(v for k, v in cores.items() if k != "machine" and v == v)
    cores["others"] = round(max(0.0, cores["machine"] - mine), 2)
    return cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ stack

@dataclass
class Stack:
    broker: str  # kafka://127.0.0.1:9092
    bootstrap: str  # 127.0.0.1:9092
    redis_base: str  # redis://127.0.0.1:6379
    stack_dir: Path
    kafka_version: str
    redis_pid: int | None = None

    def redis_url(self, db: int) -> str:
        return f"{self.redis_base}/{db}"

    def kafka_pid(self) -> int | None:
        try:
            return int((self.stack_dir / "kafka" / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None


def stack_up(log_dir: Path) -> Stack:
    P.update("bringing up the stack (scripts/stack up)")
    log_path = log_dir / "stack.log"
    with log_path.open("wb") as log:
        result = subprocess.run([str(ROOT / "scripts" / "stack"), "up"], stdout=subprocess.PIPE,
                                stderr=log, cwd=str(ROOT), timeout=600)
    if result.returncode != 0:
        raise RuntimeError("scripts/stack up failed:\n" + log_path.read_text(errors="replace"))
    exports = dict(re.findall(r"export (\w+)=(\S+)", result.stdout.decode()))
    broker = exports["GATEKEEPER_BROKER"]
    redis_base = exports["GATEKEEPER_REDIS"].rsplit("/", 1)[0]
    stack_dir = Path(os.environ.get("GK_STACK_DIR") or ROOT / ".stack")
    jars = sorted((stack_dir / "kafka" / "lib").glob("kafka_2.13-*.jar"))
    version = jars[0].name.removeprefix("kafka_2.13-").removesuffix(".jar") if jars else "?"
    from gatekeeper.brokers import bootstrap

    stack = Stack(broker, bootstrap(broker), redis_base, stack_dir, version)
    P.done(f"stack up: Kafka {version} at {stack.bootstrap}, Redis at {redis_base}")
    return stack


# ------------------------------------------------------------------ Kafka helpers

def tps(topic: str) -> list[Any]:
    from aiokafka import TopicPartition

    return [TopicPartition(topic, p) for p in range(PARTITIONS)]


async def create_topics(bootstrap: str, names: Iterable[str],
                        append_time: Iterable[str] = ()) -> None:
    """Create topics; those in ``append_time`` stamp records with the broker's clock."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        names = list(names)
        stamped = set(append_time)
        await admin.create_topics([
            NewTopic(n, PARTITIONS, 1, topic_configs={"message.timestamp.type": "LogAppendTime"}
                     if n in stamped else {}) for n in names])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            described = await admin.describe_topics(names)
            if all(t.get("error_code", 0) == 0 and len(t.get("partitions") or []) == PARTITIONS
                   and all(p.get("leader", -1) >= 0 for p in t["partitions"])
                   for t in described):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError("topics have no leaders after 60 s")
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, prefix: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
        return len(mine)
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, messages: Sequence[tuple[bytes, bytes]],
                  what: str) -> float:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=262144, acks=1)
    await producer.start()
    started = time.monotonic()
    try:
        pending = []
        for i, (key, value) in enumerate(messages):
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending = []
                P.update(f"{what}: {i + 1:,}/{len(messages):,} produced")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.monotonic() - started


class OffsetWatcher:
    """End offsets of a few topics (cheap: no records are fetched)."""

    def __init__(self, bootstrap: str, topics: Sequence[str]):
        self.bootstrap = bootstrap
        self.partitions = [tp for t in topics for tp in tps(t)]
        self.consumer: Any = None

    async def __aenter__(self) -> OffsetWatcher:
        from aiokafka import AIOKafkaConsumer

        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                         enable_auto_commit=False)
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def ends(self) -> dict[Any, int]:
        return dict(await self.consumer.end_offsets(self.partitions))

    async def per_topic(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for tp, end in (await self.ends()).items():
            out[tp.topic] += end
        return dict(out)

    async def edge_timestamps(self) -> tuple[float, float]:
        """(earliest first-record timestamp, latest last-record timestamp), seconds."""
        ends = await self.ends()
        firsts: list[float] = []
        lasts: list[float] = []
        for tp, end in ends.items():
            if end <= 0:
                continue
            for offset, bucket in ((0, firsts), (end - 1, lasts)):
                self.consumer.assign([tp])
                self.consumer.seek(tp, offset)
                records = await self.consumer.getmany(tp, timeout_ms=5000, max_records=1)
                for record in records.get(tp, [])[:1]:
                    bucket.append(record.timestamp / 1000.0)
        if not firsts or not lasts:
            raise RuntimeError("no output records to time")
        return min(firsts), max(lasts)


# ------------------------------------------------------------------ Redis helpers

async def redis_info(url: str) -> dict[str, Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        info: dict[str, Any] = await client.info("everything")
        return info
    finally:
        await client.aclose()


async def flush_db(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def redis_cpu(info: dict[str, Any]) -> float:
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def commandstats(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, float]]:
    out = {}
    for key, value in after.items():
        if not key.startswith("cmdstat_") or not isinstance(value, dict):
            continue
        prior = before.get(key) or {"calls": 0, "usec": 0}
        calls = int(value["calls"]) - int(prior["calls"])
        if calls > 0:
            usec = float(value["usec"]) - float(prior["usec"])
            out[key.removeprefix("cmdstat_")] = {"calls": calls, "usec": usec,
                                                 "usec_per_call": round(usec / calls, 2)}
    return out


async def key_breakdown(url: str, sample: int = 2000) -> dict[str, Any]:
    """Keys by kind (counters, state, decision records) with MEMORY USAGE sampled."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    kinds: dict[str, list[bytes]] = {"counters": [], "state": [], "records": [], "other": []}
    counts: Counter[str] = Counter()
    try:
        async for key in client.scan_iter(match="gk:*", count=2000):
            kind = ("records" if b":r:" in key else "counters" if key.endswith(b":c")
                    else "state" if key.endswith(b":s") else "other")
            counts[kind] += 1
            if len(kinds[kind]) < sample:
                kinds[kind].append(key)
        out: dict[str, Any] = {}
        for kind, keys in kinds.items():
            if not counts[kind]:
                continue
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.memory_usage(key, samples=0)
            sizes = [s for s in await pipe.execute() if s]
            mean = sum(sizes) / len(sizes) if sizes else 0.0
            out[kind] = {"keys": counts[kind], "mean_bytes": round(mean, 1),
                         "estimated_bytes": int(mean * counts[kind])}
        return out
    finally:
        await client.aclose()


# ------------------------------------------------------------------ metrics scrape

def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        with contextlib.suppress(ValueError):
            out[name] = float(value)
    return out


def scrape_all(ports: Sequence[int]) -> dict[str, float]:
    """Every worker's metrics, added up."""
    total: Counter[str] = Counter()
    for port in ports:
        total.update(scrape(port))
    return dict(total)


# ------------------------------------------------------------------ phases

@dataclass
class Run:
    cfg: Config
    stack: Stack
    prefix: str
    log_dir: Path
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def input_topic(self) -> str:
        return self.prefix + "sat.contact.requests"

    def topics(self, lane: str) -> dict[str, str]:
        names = {"requests": "contact.requests", "allowed": "contact.allowed",
                 "review": "contact.review", "invalid": "contact.invalid",
                 "events": "debtor.events", "outcomes": "contact.outcomes"}
        return {k: f"{self.prefix}{lane}.{v}" for k, v in names.items()}

    def app_env(self, lane: str, *, requests: str | None = None, metrics_port: int = 0,
                db: int | None = None) -> dict[str, str]:
        """GATEKEEPER_* for an app on lane ``lane``: the prefix is the run's, every topic is
        named explicitly (``<lane>.contact.allowed``...), requests may come from elsewhere."""
        env = {"GATEKEEPER_BROKER": self.stack.broker,
               "GATEKEEPER_REDIS": self.stack.redis_url(self.cfg.redis_db if db is None else db),
               "GATEKEEPER_POLICY": "default", "GATEKEEPER_TOPIC_PREFIX": self.prefix,
               "GATEKEEPER_APP_ID": f"{self.prefix}{lane}",
               "GATEKEEPER_SIGNING_KEY": SIGNING_KEY, "GATEKEEPER_HASH_KEY": HASH_KEY,
               "GATEKEEPER_METRICS_PORT": str(metrics_port),
               "GATEKEEPER_PARTITIONS": str(PARTITIONS), "PYTHONUNBUFFERED": "1"}
        for name, topic in self.topics(lane).items():
            env[f"GATEKEEPER_TOPIC_{name.upper()}"] = topic.removeprefix(self.prefix)
        if requests:
            env["GATEKEEPER_TOPIC_REQUESTS"] = requests.removeprefix(self.prefix)
        for var in ("GATEKEEPER_BATCH_SIZE", "GATEKEEPER_BATCH_WITHIN"):
            if os.environ.get(var):
                env[var] = os.environ[var]
        return env


async def saturate(run: Run, name: str, child: Apps, outputs: Sequence[str],
                   expected: int, on_first: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Wait until ``expected`` records are on ``outputs``; time them by record timestamps."""
    kafka_pid = run.stack.kafka_pid()
    async with OffsetWatcher(run.stack.bootstrap, outputs) as watcher:
        deadline = time.monotonic() + run.cfg.timeout
        first_seen: float | None = None
        cpu0: dict[str, float] = {}
        pids = {"app": child.pids, "kafka": kafka_pid, "redis": run.stack.redis_pid,
                "harness": os.getpid()}
        total = 0
        last_total, last_t = 0, time.monotonic()
        rate = 0.0
        while True:
            if not child.alive:
                raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
            total = sum((await watcher.per_topic()).values())
            now = time.monotonic()
            if total and first_seen is None:
                first_seen = now
                cpu0 = cpu_snapshot(pids)
                if on_first:
                    await on_first()
            if now - last_t >= 1.0:
                rate = (total - last_total) / (now - last_t)
                last_total, last_t = total, now
            P.update(f"{name}: {total:,}/{expected:,} out ({rate:,.0f}/s)")
            if total >= expected:
                break
            if now > deadline:
                raise RuntimeError(f"{name}: only {total:,} of {expected:,} outputs after "
                                   f"{run.cfg.timeout:.0f}s:\n{child.tail()}")
            await asyncio.sleep(0.2)
        wall = time.monotonic() - (first_seen or time.monotonic())
        cpu = cpu_cores(cpu0, cpu_snapshot(pids), wall)
        first, last = await watcher.edge_timestamps()
        per_topic = await watcher.per_topic()
    seconds = max(last - first, 1e-3)
    result: dict[str, Any] = {
        "messages": expected, "seconds": round(seconds, 3), "rps": round(expected / seconds),
              "outputs": {t.removeprefix(run.prefix): n for t, n in per_topic.items()},
              "cpu_cores": cpu}
    P.done(f"{name}: {expected:,} messages in {seconds:.2f}s = {result['rps']:,}/s "
           f"(CPU cores: " + ", ".join(f"{k} {v}" for k, v in cpu.items()) + ")")
    return result


async def wait_idle(run: Run, what: str, app: Sequence[int] | None = None) -> float:
    """Wait (up to --wait-idle seconds) until processes other than this run's use less than
    0.15 cores over 2 s; return the last such measure."""
    pids: dict[str, int | Sequence[int] | None] = {
        "kafka": run.stack.kafka_pid(), "redis": run.stack.redis_pid, "harness": os.getpid(),
        "app": app}
    deadline = time.monotonic() + run.cfg.wait_idle
    while True:
        before, t0 = cpu_snapshot(pids), time.monotonic()
        await asyncio.sleep(2.0)
        others = cpu_cores(before, cpu_snapshot(pids), time.monotonic() - t0)["others"]
        if others < 0.15 or time.monotonic() >= deadline:
            return others
        P.update(f"{what}: waiting for the machine to calm down (others use {others:.2f} "
                 f"cores; up to {deadline - time.monotonic():.0f}s more)")


async def phase_aiokafka(run: Run) -> dict[str, Any]:
    out = run.topics("aio")["allowed"]
    await wait_idle(run, "aiokafka passthrough")
    child = start_apps("aiokafka-passthrough",
                       [sys.executable, str(HERE / "aiokafka_passthrough.py"),
                        run.stack.bootstrap, run.prefix + "aio", run.input_topic, out],
                       [{"PYTHONUNBUFFERED": "1"}] * run.cfg.workers, run.log_dir)
    try:
        await wait_ready(child, ["aiokafka passthrough ready"])
        return await saturate(run, "aiokafka passthrough", child, [out], run.cfg.messages)
    finally:
        stop_apps(child)


async def phase_faust(run: Run) -> dict[str, Any]:
    env = run.app_env("pt", requests=run.input_topic)
    await wait_idle(run, "faust passthrough")
    child = start_apps("faust-passthrough",
                       [sys.executable, "-m", "gatekeeper.stream.passthrough"],
                       [env] * run.cfg.workers, run.log_dir)
    try:
        await wait_ready(child, ["passthrough ready", "Worker]: Ready"])
        return await saturate(run, "faust passthrough", child, [run.topics("pt")["allowed"]],
                              run.cfg.messages)
    finally:
        stop_apps(child)


def worker_argv() -> list[str]:
    return [sys.executable, str(HERE / "gk_worker.py"), "--loglevel", "info"]


async def seed_events(run: Run, mix: Mix) -> set[str]:
    """Apply debtor events for a share of the book through the gate's own Lua."""
    from gatekeeper.counters.keys import Hasher
    from gatekeeper.counters.store import Store
    from gatekeeper.gate import Gate
    from gatekeeper.policy import load_policy
    from gatekeeper.validate import event_from_dict

    store = Store.from_url(run.stack.redis_url(run.cfg.redis_db))
    try:
        gate = Gate(load_policy("default"), store, Hasher(HASH_KEY.encode()))
        events = [event_from_dict(e) for e in mix.events(run.cfg.event_share)]
        for i in range(0, len(events), 500):
            await gate.apply_events(events[i:i + 500])
        return {e.debtor_id for e in events}
    finally:
        await store.close()


async def phase_gatekeeper(run: Run, mix: Mix, debtors: set[str]) -> dict[str, Any]:
    url = run.stack.redis_url(run.cfg.redis_db)
    await flush_db(url)
    await asyncio.sleep(0.5)
    info_empty = await redis_info(url)
    if run.cfg.seed == "direct":
        seeded = await seed_events(run, mix)
    else:  # through the worker's own debtor.events topic, as in production
        events = mix.events(run.cfg.event_share)
        seeded = {e["debtor_id"] for e in events}
        await produce(run.stack.bootstrap, run.topics("gk")["events"],
                      [(e["debtor_id"].encode(), orjson.dumps(e)) for e in events],
                      "debtor events")
    info0 = await redis_info(url)
    ports = [free_port() for _ in range(run.cfg.workers)]
    topics = run.topics("gk")
    await wait_idle(run, "gatekeeper worker")
    child = start_apps("gatekeeper-worker", worker_argv(),
                       [run.app_env("gk", requests=run.input_topic, metrics_port=port)
                        for port in ports], run.log_dir)
    try:
        await wait_ready(child, ["gatekeeper ready", "Worker]: Ready"])
        metrics0 = scrape_all(ports)
        result = await saturate(run, "gatekeeper worker", child,
                                [topics[k] for k in ("allowed", "review", "invalid")],
                                run.cfg.messages)
        await asyncio.sleep(0.3)
        metrics1 = scrape_all(ports)
        info1 = await redis_info(url)
    finally:
        stop_apps(child)

    def delta(name: str) -> float:
        return metrics1.get(name, 0.0) - metrics0.get(name, 0.0)

    batches = delta("gatekeeper_batch_size_count")
    control = sum(delta(f'gatekeeper_bench_store_runs_total{{script="{script}"}}')
                  for script in ("apply_state", "settle"))
    trips = metrics1.get("gatekeeper_bench_redis_round_trips_total", 0) - metrics0.get(
        "gatekeeper_bench_redis_round_trips_total", 0)
    invalid = result["outputs"].get("gk.contact.invalid", 0)
    decisions = run.cfg.messages - invalid
    commands = commandstats(info0, info1)
    active = debtors | seeded
    P.update("gatekeeper worker: measuring Redis memory by key kind")
    memory_delta = int(info1["used_memory"]) - int(info_empty["used_memory"])
    breakdown = await key_breakdown(url)
    counters_state = sum(breakdown.get(k, {}).get("estimated_bytes", 0)
                         for k in ("counters", "state"))
    result.update({
        "batches": int(batches),
        "mean_batch_size": round(metrics1.get("gatekeeper_batch_size_sum", 0)
                                 / batches, 1) if batches else None,
        # the request agent's pipelines per request batch: every pipeline but those of the
        # events and outcomes agents (apply_state, settle); stale answers cost a re-plan
        "redis_round_trips": int(trips),
        "redis_round_trips_per_batch": round((trips - control) / batches, 3)
        if batches else None,
        "redis_round_trips_per_batch_incl_events": round(trips / batches, 3)
        if batches else None,
        "stale_answers": int(delta("gatekeeper_bench_stale_answers_total")),
        "events_round_trips": int(control),
        "decisions": decisions,
        "redis_cpu_seconds": round(redis_cpu(info1) - redis_cpu(info0), 3),
        "redis_cpu_us_per_decision": round((redis_cpu(info1) - redis_cpu(info0)) * 1e6
                                           / max(decisions, 1), 1),
        "redis_commands_per_decision": round(sum(c["calls"] for c in commands.values())
                                             / max(decisions, 1), 2),
        "redis_commandstats": commands,
        "redis_reads_processed_per_batch": round(
            (int(info1["total_reads_processed"]) - int(info0["total_reads_processed"]))
            / batches, 2) if batches else None,
        "active_debtors": len(active),
        "redis_used_memory_delta": memory_delta,
        "redis_bytes_per_debtor": round(memory_delta / max(len(active), 1)),
        "redis_keys": breakdown,
        "redis_counters_state_bytes_per_debtor": round(counters_state / max(len(active), 1)),
        "worker_batch_seconds_mean": round(
            (metrics1.get("gatekeeper_decision_seconds_sum", 0)
             - metrics0.get("gatekeeper_decision_seconds_sum", 0)) / batches, 4)
        if batches else None,
    })
    P.done(f"gatekeeper worker: {result['redis_round_trips_per_batch']} Redis round trips per "
           f"batch ({int(batches):,} batches of {result['mean_batch_size']}), "
           f"{result['redis_cpu_us_per_decision']} us Redis CPU per decision, "
           f"{result['redis_bytes_per_debtor']:,} bytes per active debtor")
    return result


@dataclass
class Window:
    """One fixed-rate measurement: request id -> send time of the requests it measures."""

    rate: float
    seconds: float
    warmup: float
    pending: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    send_rps: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    produce: list[float] = field(default_factory=list)  # harness send() -> broker ack, ms


async def phase_latency(run: Run, app: str = "gatekeeper") -> dict[str, Any]:
    """A fresh app on its own topics, offered a fixed load: first ``low_rate`` (to see
    the latency of a lightly loaded app), then ``rate``; each after a warm-up whose requests
    are not measured. ``app``: "gatekeeper" (the worker) or "passthrough" (faust).

    Arrival is the broker's LogAppendTime of the output record (the output topics of these
    lanes are created with message.timestamp.type=LogAppendTime), so the harness only
    produces while it measures and reads the outputs afterwards: on a 2-core machine a
    consumer in the harness would take CPU from the app under test."""
    cfg = run.cfg
    lane = "lat" if app == "gatekeeper" else "ptlat"
    topics = run.topics(lane)
    outputs = [topics[k] for k in ("allowed", "review", "invalid")]
    ports = [free_port() for _ in range(run.cfg.workers)]
    if app == "gatekeeper":
        child = start_apps("gatekeeper-worker-latency", worker_argv(),
                           [run.app_env(lane, metrics_port=port) for port in ports],
                           run.log_dir)
        needles = ["gatekeeper ready", "Worker]: Ready"]
    else:
        child = start_apps("faust-passthrough-latency",
                           [sys.executable, "-m", "gatekeeper.stream.passthrough"],
                           [run.app_env(lane)] * run.cfg.workers, run.log_dir)
        needles = ["passthrough ready", "Worker]: Ready"]
    metrics: dict[str, float] = {}
    mix = Mix(cfg.debtors, seed=7, run=run.prefix + lane)
    seen: set[str] = set()
    windows = [Window(r, s, cfg.warmup_seconds) for r, s in
               ((cfg.low_rate, cfg.low_seconds), (cfg.rate, cfg.latency_seconds))
               if s > 0 and r > 0]
    kinds: Counter[str] = Counter()
    try:
        await wait_ready(child, needles)
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=run.stack.bootstrap, linger_ms=1)
        await producer.start()
        try:
            async with OffsetWatcher(run.stack.bootstrap, outputs) as watcher:
                # faust takes its partitions ~1 s after "Ready": probe until one is decided
                deadline = time.monotonic() + 60
                total_sent = 0
                while time.monotonic() < deadline:
                    key, value = mix.request()
                    await producer.send_and_wait(topics["requests"], value, key=key)
                    total_sent += 1
                    wait_until = time.monotonic() + 2
                    while time.monotonic() < wait_until:
                        if sum((await watcher.ends()).values()) >= 1:
                            break
                        await asyncio.sleep(0.1)
                    else:
                        P.update(f"latency ({app}): waiting for the app to take its partitions")
                        continue
                    break
                if sum((await watcher.ends()).values()) < 1:
                    raise RuntimeError("latency: the app decided nothing in 60 s:\n"
                                       + child.tail())
                pids: dict[str, int | Sequence[int] | None] = {
                    "app": child.pids, "kafka": run.stack.kafka_pid(),
                    "redis": run.stack.redis_pid, "harness": os.getpid()}
                for window in windows:
                    await wait_idle(run, f"latency ({app})", child.pids)
                    starts = await watcher.ends()
                    cpu0, t0 = cpu_snapshot(pids), time.monotonic()
                    await offer(window, mix, producer, topics["requests"], seen, app,
                                watcher, sum(starts.values()))
                    total_sent += window.sent
                    drain = time.monotonic() + 30
                    while time.monotonic() < drain:
                        done = sum((await watcher.ends()).values())
                        if done >= total_sent:
                            break
                        P.update(f"latency ({app}): draining, {total_sent - done:,} of "
                                 f"{window.sent:,} still in flight")
                        await asyncio.sleep(0.1)
                    window.cpu = cpu_cores(cpu0, cpu_snapshot(pids), time.monotonic() - t0)
                    kinds.update(await read_arrivals(watcher, starts, window))
                    P.done(window_line(window, app))
        finally:
            await producer.stop()
        if app == "gatekeeper":
            metrics = scrape_all(ports)
    finally:
        stop_apps(child)
    result: dict[str, Any] = {}
    for window in windows:
        window.latencies.sort()
        entry = {"offered_rps": window.rate, "achieved_send_rps": round(window.send_rps),
                 "seconds": window.seconds, "warmup_seconds": window.warmup,
                 "sent": window.sent, "measured": len(window.latencies),
                 "not_decided_within_30s": len(window.pending),
                 "latency_ms": percentiles(window.latencies),
                 "harness_produce_ack_ms": percentiles(sorted(window.produce)),
                 "cpu_cores": window.cpu}
        if window.rate == cfg.rate:
            result.update(entry)
        else:
            result.setdefault("at_other_rates", []).append(entry)
    result["outputs"] = dict(kinds)
    batches = metrics.get("gatekeeper_batch_size_count")
    if batches:
        result["batches"] = int(batches)
        result["mean_batch_size"] = round(metrics["gatekeeper_batch_size_sum"] / batches, 1)
        result["worker_batch_seconds_mean"] = round(
            metrics["gatekeeper_decision_seconds_sum"] / batches, 4)
    return result


async def read_arrivals(watcher: OffsetWatcher, starts: dict[Any, int], window: Window
                        ) -> Counter[str]:
    """Read the output records appended since ``starts``; each measured request's latency
    is its output's LogAppendTime minus the time the harness sent it."""
    consumer = watcher.consumer
    ends = await watcher.ends()
    kinds: Counter[str] = Counter()
    for tp, end in ends.items():
        start = starts.get(tp, 0)
        if end <= start:
            continue
        consumer.assign([tp])
        consumer.seek(tp, start)
        position = start
        while position < end:
            batches = await consumer.getmany(tp, timeout_ms=5000, max_records=5000)
            records = batches.get(tp, [])
            if not records:
                break
            for record in records:
                position = record.offset + 1
                if record.offset >= end:
                    break
                kind = tp.topic.rsplit(".", 1)[-1]
                kinds[kind] += 1
                try:  # the passthrough forwards malformed messages too
                    body = orjson.loads(record.value)
                    rid = body["request_id"] if kind == "allowed" else \
                        body["request"]["request_id"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
                t0 = window.pending.pop(rid, None)
                if t0 is not None:
                    window.latencies.append(record.timestamp - t0 * 1000)
    return kinds


async def offer(window: Window, mix: Mix, producer: Any, topic: str, seen: set[str],
                app: str, watcher: OffsetWatcher, base: int) -> None:
    """Send the mix at ``window.rate`` for warm-up + seconds; measure after the warm-up."""
    total = window.warmup + window.seconds
    # generated beforehand: while it measures, the harness only sends (2 cores are shared)
    planned = []
    for _ in range(int(total * window.rate) + 1):
        key, value = mix.message()
        planned.append((key, value, mix.last_request_id))
    started = time.monotonic()
    count = 0
    shown, done = 0.0, 0
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= total:
            break
        due = min(int(elapsed * window.rate), len(planned)) - count
        for _ in range(max(0, due)):
            key, value, rid = planned[count]
            t0 = time.time()
            future = await producer.send(topic, value, key=key)
            if elapsed >= window.warmup:
                future.add_done_callback(
                    lambda _f, t0=t0: window.produce.append((time.time() - t0) * 1000))
            count += 1
            if rid is not None and rid not in seen:  # re-sends are not measured
                seen.add(rid)
                if elapsed >= window.warmup:
                    window.pending[rid] = t0
        if elapsed - shown >= 1.0:  # a cheap look at the outputs, once a second
            shown = elapsed
            done = sum((await watcher.ends()).values()) - base
        P.update(f"latency ({app}) at {window.rate:,.0f}/s: {count:,} sent, "
                 f"{done:,} decided")
        await asyncio.sleep(0.002)
    window.sent = count
    window.send_rps = count / (time.monotonic() - started)


def window_line(window: Window, app: str) -> str:
    lat = percentiles(sorted(window.latencies))
    return (f"latency ({app}) at {window.rate:,.0f}/s: p50 {lat['p50']} ms, p95 {lat['p95']} ms, "
            f"p99 {lat['p99']} ms, max {lat['max']} ms ({len(window.latencies):,} requests"
            + (f", {len(window.pending):,} not decided" if window.pending else "") + ")")


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    n = len(values)

    def at(q: float) -> float:
        return round(values[min(n - 1, max(0, int(q * n + 0.5) - 1))], 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(values[-1], 2)}


async def phase_lua(run: Run) -> dict[str, Any]:
    """The decide script alone, pipelined in batches of 500 from redis-py (as the worker),
    against pipelined SETs from the same client; then the same pair from redis-benchmark."""
    from gatekeeper.counters.keys import Hasher
    from gatekeeper.counters.store import Call, Store
    from gatekeeper.gate import Gate, content_hash
    from gatekeeper.plan import make_plan
    from gatekeeper.policy import load_policy
    from gatekeeper.state import state_from_hash
    from gatekeeper.validate import parse_request

    cfg = run.cfg
    db = cfg.redis_db + 1
    url = run.stack.redis_url(db)
    await flush_db(url)
    store = Store.from_url(url)
    gate = Gate(load_policy("default"), store, Hasher(HASH_KEY.encode()))
    mix = Mix(cfg.debtors, seed=11, run=run.prefix + "lua")
    now = datetime.now(UTC)
    empty = state_from_hash({})
    requests: list[Any] = []
    P.update("lua: planning requests")
    while len(requests) < cfg.lua_calls:
        requests.append(parse_request(mix.request(now)[1]))
    calls: list[Call] = [gate._decide_call(make_plan(r, gate.policy, empty, now, gate.hasher),
                                           content_hash(r)) for r in requests]
    await store.load_scripts()
    batch = 500
    result: dict[str, Any] = {"pipeline": batch, "calls": len(calls)}
    await wait_idle(run, "lua")
    try:
        info0 = await redis_info(url)
        started = time.perf_counter()
        statuses: Counter[str] = Counter()
        for i in range(0, len(calls), batch):
            for answer in await store.run(calls[i:i + batch]):
                statuses[str(answer[0])] += 1
            P.update(f"lua: {i + batch:,}/{len(calls):,} decide calls")
        seconds = time.perf_counter() - started
        info1 = await redis_info(url)
        result["lua_decisions_per_s"] = round(len(calls) / seconds)
        result["lua_statuses"] = dict(statuses)
        stats = commandstats(info0, info1).get("evalsha", {})
        result["lua_server_usec_per_call"] = stats.get("usec_per_call")
        result["lua_redis_cpu_us_per_call"] = round((redis_cpu(info1) - redis_cpu(info0))
                                                    * 1e6 / len(calls), 2)

        value = b"x" * 100
        sets = len(calls)
        info0 = await redis_info(url)
        started = time.perf_counter()
        for i in range(0, sets, batch):
            await store.read([("SET", f"bench:set:{j}", value)
                              for j in range(i, min(sets, i + batch))])
            P.update(f"lua: {i + batch:,}/{sets:,} SETs")
        seconds = time.perf_counter() - started
        info1 = await redis_info(url)
        result["redis_set_pipeline_per_s"] = round(sets / seconds)
        stats = commandstats(info0, info1).get("set", {})
        result["set_server_usec_per_call"] = stats.get("usec_per_call")
        result["set_redis_cpu_us_per_call"] = round((redis_cpu(info1) - redis_cpu(info0))
                                                    * 1e6 / sets, 2)
        # one batch's whole Gate.decide (read + plan + decide + record), the Python cost
        # included: the worker without Kafka
        await flush_db(url)
        await store.load_scripts()
        decide_requests = requests[: min(len(requests), 20_000)]
        started = time.perf_counter()
        for i in range(0, len(decide_requests), batch):
            await gate.decide(decide_requests[i:i + batch], now)
            P.update(f"lua: Gate.decide {i + batch:,}/{len(decide_requests):,}")
        result["gate_decide_per_s"] = round(len(decide_requests)
                                            / (time.perf_counter() - started))
        index = next((i for i, c in enumerate(calls)
                      if c.script == "decide" and c.args[1] == "decide"), None)
        if index is not None:
            # one real call, its debtor and request id made placeholders: every call of
            # redis-benchmark is a new request of a new debtor (the allowed path, mostly)
            request = requests[index]

            def swap(value: Any, debtor: str, rid: str) -> str:
                return str(value).replace(request.debtor_id, debtor).replace(
                    request.request_id, rid)

            call = calls[index]
            probe = await store.client.evalsha(
                store.shas["decide"], len(call.keys),
                *[swap(k, "probe", "probe-1") for k in call.keys],
                *[swap(a, "probe", "probe-1") for a in call.args])
            if isinstance(probe, list) and probe and probe[0] in ("allowed", "blocked"):
                command = ["EVALSHA", store.shas["decide"], str(len(call.keys)),
                           *[swap(k, "__rand_int__", "__rand_int__") for k in call.keys],
                           *[swap(a, "__rand_int__", "__rand_int__") for a in call.args]]
                result.update(redis_benchmark(run, db, command))
            else:
                result["redis_benchmark"] = {"error": f"probe call answered {probe!r:.200}"}
    finally:
        await flush_db(url)
        await store.close()
    rb = result.get("redis_benchmark") or {}
    P.done(f"lua: decide {result['lua_decisions_per_s']:,}/s vs SET "
           f"{result['redis_set_pipeline_per_s']:,}/s (redis-py, pipelines of {batch}); "
           f"Gate.decide {result['gate_decide_per_s']:,}/s"
           + (f"; redis-benchmark decide {rb.get('decide_per_s', 0):,}/s vs SET "
              f"{rb.get('set_per_s', 0):,}/s" if rb else ""))
    return result


def redis_benchmark(run: Run, db: int, decide: list[str]) -> dict[str, Any]:
    """Server-bound figures from the C client: the EVALSHA decide command given (with
    __rand_int__ placeholders) and a SET of 100 bytes, same pipelining and clients."""
    tool = shutil.which("redis-benchmark")
    if not tool:
        return {}
    host, port = run.stack.redis_base.removeprefix("redis://").rsplit(":", 1)
    n = 200_000 if not run.cfg.quick else 50_000
    common = [tool, "-h", host, "-p", port, "--dbnum", str(db), "-n", str(n), "-c", "4",
              "-P", "100", "-r", "100000000", "--csv"]
    out: dict[str, Any] = {"requests": n, "clients": 4, "pipeline": 100}
    for name, command in (("decide", decide),
                          ("set", ["SET", "bench:rb:__rand_int__", "x" * 100])):
        P.update(f"lua: redis-benchmark {name}")
        proc = subprocess.run(common + command, capture_output=True, timeout=300)
        # --csv does not escape quotes inside a custom command's name: count from the right
        # ("test","rps","avg","min","p50","p95","p99","max")
        lines = [line for line in proc.stdout.decode().splitlines()
                 if line.startswith('"') and not line.startswith('"test"')]
        if proc.returncode == 0 and lines:
            with contextlib.suppress(ValueError, IndexError):
                out[f"{name}_per_s"] = round(float(lines[-1].rsplit('","', 7)[1]))
        else:
            out[f"{name}_error"] = proc.stderr.decode(errors="replace")[-300:]
    return {"redis_benchmark": out}


async def phase_profile(run: Run) -> dict[str, Any]:
    """Another gatekeeper saturation run with py-spy attached (native frames off, 100 Hz)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return {"error": "py-spy not installed (.venv/bin/pip install py-spy)"}
    url = run.stack.redis_url(run.cfg.redis_db)
    await flush_db(url)
    topics = run.topics("prof")
    await wait_idle(run, "profile")
    child = start_apps("gatekeeper-worker-profiled", worker_argv(),
                       [run.app_env("prof", requests=run.input_topic)], run.log_dir)
    raw = run.log_dir / "profile.collapsed.txt"
    spy_child: Child | None = None
    try:
        await wait_ready(child, ["gatekeeper ready", "Worker]: Ready"])

        async def attach() -> None:
            nonlocal spy_child
            spy_child = start_child("py-spy", [spy, "record", "--pid", str(child.pids[0]),
                                               "--rate", "100", "--format", "raw", "--threads",
                                               "--output", str(raw), "--nonblocking"],
                                    {}, run.log_dir)

        result = await saturate(run, "gatekeeper worker (py-spy attached)", child,
                                [topics[k] for k in ("allowed", "review", "invalid")],
                                run.cfg.messages, on_first=attach)
    finally:
        if spy_child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(spy_child.process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy_child.process.wait(30)
            stop_child(spy_child)
        stop_apps(child)
    if raw.exists():
        result["hot_spots"] = summarize_profile(raw)
        result["collapsed_stacks"] = str(raw.relative_to(ROOT))
    return result


COMPONENTS = [  # (label, substring of a frame); the deepest match along a stack wins
    ("gatekeeper: agent loop (app.py)", "create_app.<locals>.requests ("),
    ("gatekeeper: process_requests", "process_requests ("),
    ("gatekeeper: validate (parse_request)", "parse_request ("),
    ("gatekeeper: Gate.decide (own code)", "Gate.decide ("),
    ("gatekeeper: content_hash", "content_hash ("),
    ("gatekeeper: plan (make_plan)", "make_plan ("),
    ("gatekeeper: build Lua args (_decide_call)", "Gate._decide_call ("),
    ("gatekeeper: verdict", "Gate._verdict ("),
    ("gatekeeper: record blocked (_record)", "Gate._record ("),
    ("gatekeeper: state_from_hash", "state_from_hash ("),
    ("redis-py: pipelines (pack, send, parse)", "Store._pipeline ("),
    ("gatekeeper: routing.allowed + HMAC", "allowed (gatekeeper/stream/routing.py)"),
    ("gatekeeper: routing.review (orjson)", "review (gatekeeper/stream/routing.py)"),
    ("gatekeeper: routing.invalid", "invalid (gatekeeper/stream/routing.py)"),
    ("faust: produce (send_all)", "send_all ("),
    ("gatekeeper: metrics (_count, observe)", "_count (gatekeeper/stream/app.py)"),
    ("gatekeeper: metrics (_count, observe)", "Histogram.observe ("),
    ("gatekeeper: incoming()", "incoming (gatekeeper/stream/app.py)"),
]


def categorize(frames: list[str]) -> str:
    label = None
    for frame in frames:
        for name, needle in COMPONENTS:
            if needle in frame:
                label = name
    if label is not None and label != "gatekeeper: agent loop (app.py)":
        return label
    joined = ";".join(frames)
    if label is not None:
        if "faust/" in joined or "mode/" in joined:
            return "faust: take_events / acks (in the agent)"
        return label
    if "aiokafka/" in joined:
        return "aiokafka: fetch / produce I/O"
    if "faust/" in joined or "mode/" in joined:
        return "faust: consumer, conductor, stream machinery"
    if "redis/" in joined:
        return "redis-py: connection I/O"
    return "event loop / other"


def summarize_profile(path: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    components: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        threads[frames[0]] += n
        names = [re.sub(r":\d+\)$", ")", f) for f in frames[1:]]
        if names:
            own[names[-1]] += n
        components[categorize(names)] += n
        for name in set(names):
            inclusive[name] += n
    if not total:
        return {}

    def share(c: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in c.most_common(top)]

    return {"samples": total, "threads_pct": share(threads),
            "components_pct": share(components), "self_pct": share(own),
            "inclusive_pct": share(inclusive)}


# ------------------------------------------------------------------ report

def versions(stack: Stack, info: dict[str, Any]) -> dict[str, str]:
    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    return {"python": platform.python_version(), "faust-streaming": version("faust-streaming"),
            "mode-streaming": version("mode-streaming"), "aiokafka": version("aiokafka"),
            "redis-py": version("redis"), "hiredis": version("hiredis"),
            "orjson": version("orjson"), "redis-server": str(info.get("redis_version")),
            "kafka": stack.kafka_version, "gatekeeper": version("gatekeeper")}


def machine() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    return {"cores": os.cpu_count(), "cpu_model": model, "memory": memory,
            "kernel": platform.release()}


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "met" if ok else "NOT MET"


def table(results: dict[str, Any]) -> str:
    gk = results.get("gatekeeper", {})
    lat = results.get("latency", {}).get("latency_ms", {})
    lua = results.get("lua", {})
    rows: list[tuple[str, str, str, str]] = []

    def fmt(v: Any, unit: str = "") -> str:
        if v is None:
            return "-"
        if isinstance(v, float) and not v.is_integer():
            return f"{v:,.2f}{unit}"
        return f"{int(v):,}{unit}"

    ratio = results.get("ratio_gatekeeper_to_passthrough")
    rows += [
        ("aiokafka passthrough", fmt(results.get("aiokafka_passthrough", {}).get("rps"), "/s"),
         "", ""),
        ("faust passthrough", fmt(results.get("passthrough", {}).get("rps"), "/s"), "", ""),
        ("gatekeeper worker (default pack)", fmt(gk.get("rps"), "/s"), "", ""),
        ("gatekeeper / faust passthrough", f"{ratio:.0%}" if ratio is not None else "-",
         ">= 80%", verdict(None if ratio is None else ratio >= 0.8)),
        ("gatekeeper / aiokafka passthrough",
         f"{results['ratio_gatekeeper_to_aiokafka']:.0%}"
         if results.get("ratio_gatekeeper_to_aiokafka") is not None else "-", "", ""),
        (f"latency p50 at {fmt(results.get('latency', {}).get('offered_rps'), '/s')}",
         fmt(lat.get("p50"), " ms"), "", ""),
        ("latency p95", fmt(lat.get("p95"), " ms"), "", ""),
        ("latency p99", fmt(lat.get("p99"), " ms"), "<= 25 ms",
         verdict(None if lat.get("p99") is None else lat["p99"] <= 25)),
        *[(f"latency p50 / p99 at {fmt(o['offered_rps'], '/s')}",
           f"{fmt(o['latency_ms']['p50'])} / {fmt(o['latency_ms']['p99'], ' ms')}", "", "")
          for o in results.get("latency", {}).get("at_other_rates", [])],
        *[(f"faust passthrough latency p50 / p99 at {fmt(o['offered_rps'], '/s')}",
           f"{fmt(o['latency_ms']['p50'])} / {fmt(o['latency_ms']['p99'], ' ms')}", "", "")
          for o in ([results.get("passthrough", {}).get("latency", {})]
                    + results.get("passthrough", {}).get("latency", {}).get("at_other_rates", []))
          if o.get("latency_ms")],
        ("Redis round trips per batch", fmt(results.get("redis_roundtrips_per_batch")), "<= 1",
         verdict(None if results.get("redis_roundtrips_per_batch") is None
                 else results["redis_roundtrips_per_batch"] <= 1)),
        ("Redis bytes per active debtor", fmt(results.get("redis_bytes_per_debtor"), " B"),
         "<= 300 B", verdict(None if results.get("redis_bytes_per_debtor") is None
                             else results["redis_bytes_per_debtor"] <= 300)),
        ("  of which counters + state", fmt(gk.get("redis_counters_state_bytes_per_debtor"),
                                            " B"), "", ""),
        ("Redis CPU per decision", fmt(gk.get("redis_cpu_us_per_decision"), " us"), "", ""),
        ("Redis commands per decision (with Lua's)", fmt(gk.get("redis_commands_per_decision")),
         "", ""),
        ("decide.lua, pipelined (redis-py)", fmt(results.get("lua_decisions_per_s"), "/s"),
         "", ""),
        ("SET, pipelined (redis-py)", fmt(results.get("redis_set_pipeline_per_s"), "/s"), "", ""),
        ("decide.lua server time per call", fmt(lua.get("lua_server_usec_per_call"), " us"),
         "", ""),
        ("SET server time per call", fmt(lua.get("set_server_usec_per_call"), " us"), "", ""),
    ]
    def others(phase: dict[str, Any]) -> str:
        value = (phase.get("cpu_cores") or {}).get("others")
        return "-" if value is None else f"{value:.2f}" + (" (disturbed)" if value > 0.15 else "")

    rows += [("background CPU, cores (aio / faust / gk runs)",
              " / ".join(others(results.get(k, {})) for k in
                         ("aiokafka_passthrough", "passthrough", "gatekeeper")), "", ""),
             ("background CPU, cores (latency run)",
              others(results.get("latency", {})), "", "")]
    rb = lua.get("redis_benchmark") or {}
    if rb:
        rows += [("decide.lua (redis-benchmark)", fmt(rb.get("decide_per_s"), "/s"), "", ""),
                 ("SET (redis-benchmark)", fmt(rb.get("set_per_s"), "/s"), "", "")]
    if lua.get("gate_decide_per_s"):
        rows.append(("Gate.decide in-process, no Kafka", fmt(lua["gate_decide_per_s"], "/s"),
                     "", ""))
    widths = [max(len(r[i]) for r in rows + [("metric", "measured", "target", "")])
              for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(("metric", "measured", "target", ""), widths,
                                                    strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


# ------------------------------------------------------------------ main

async def main_async(cfg: Config) -> dict[str, Any]:
    results_dir = HERE / "results"
    log_dir = results_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = stack_up(log_dir)
    prefix = f"bench{datetime.now(UTC):%m%d%H%M%S}{secrets.token_hex(2)}."
    run = Run(cfg, stack, prefix, log_dir)
    info = await redis_info(stack.redis_url(cfg.redis_db))
    stack.redis_pid = int(info.get("process_id") or 0) or None
    load = os.getloadavg()
    if load[0] > 0.5:
        P.done(f"warning: the machine is busy before the run (load average {load[0]:.2f}); "
               "figures will be lower than on an idle machine (see cpu_cores.others)")
    results: dict[str, Any] = {
        "mode": "quick" if cfg.quick else "full",
        "phases": sorted(cfg.phases),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions(stack, info),
        "config": {"messages": cfg.messages, "debtors": cfg.debtors, "partitions": PARTITIONS,
                   "batch_size": int(os.environ.get("GATEKEEPER_BATCH_SIZE") or 500),
                   "workers": cfg.workers, "seed_events": cfg.seed,
                   "batch_within": float(os.environ.get("GATEKEEPER_BATCH_WITHIN") or 0.01),
                   "latency_rate": cfg.rate, "latency_seconds": cfg.latency_seconds,
                   "redis_db": cfg.redis_db, "topic_prefix": prefix,
                   "kafka": stack.bootstrap, "redis": stack.redis_base},
        "targets": TARGETS,
        "source": SOURCE.get("info"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        lanes = ["sat", "aio", "pt", "gk", "lat", "ptlat"] + (["prof"] if cfg.profile else [])
        topics = [run.input_topic] + [t for lane in lanes[1:] for t in run.topics(lane).values()]
        P.update(f"creating {len(topics)} topics ({PARTITIONS} partitions) under {prefix}")
        await create_topics(stack.bootstrap, topics, append_time=[
            run.topics(lane)[k] for lane in ("lat", "ptlat")
            for k in ("allowed", "review", "invalid")])

        P.update(f"generating {cfg.messages:,} messages over {cfg.debtors:,} debtors")
        mix = Mix(cfg.debtors, seed=2026, run=prefix + "sat")
        messages = [mix.message() for _ in range(cfg.messages)]
        debtors = {k.decode() for k, _ in messages if k != b"D-bad"}
        channels: Counter[str] = Counter()
        for key, value in messages:
            if key != b"D-bad":  # the malformed ones (one has channel "pigeon")
                channels[orjson.loads(value)["channel"]] += 1
        results["mix"] = {"messages": cfg.messages, "debtors_in_book": cfg.debtors,
                          "distinct_debtors": len(debtors),
                          "night_zones_now": mix.night_zones,
                          "channels": dict(channels),
                          "bytes_mean": round(sum(len(v) for _, v in messages) / len(messages))}
        saturating = bool(cfg.phases & {"aiokafka", "faust", "gatekeeper"}) or cfg.profile
        took = await produce(stack.bootstrap, run.input_topic, messages if saturating else [],
                             "pre-producing")
        del messages
        gc.collect()
        gc.freeze()  # the run's big structures: out of the collector's way from here on
        P.done(f"pre-produced {cfg.messages:,} messages ({len(debtors):,} distinct debtors, "
               f"night now in {len(mix.night_zones)} of 16 zones) in {took:.1f}s")

        want = cfg.phases
        if "aiokafka" in want:
            results["aiokafka_passthrough"] = await phase_aiokafka(run)
        if "faust" in want:
            results["passthrough"] = await phase_faust(run)
        if "gatekeeper" in want:
            results["gatekeeper"] = await phase_gatekeeper(run, mix, debtors)
        if "latency" in want:
            results["latency"] = await phase_latency(run)
            results.setdefault("passthrough", {})["latency"] = await phase_latency(
                run, "passthrough")
        if "lua" in want:
            try:
                results["lua"] = await phase_lua(run)
            except Exception as exc:  # noqa: BLE001 - it uses gate internals that may move
                P.done(f"lua: failed ({exc!r}); the other figures stand")
                results["lua"] = {"error": repr(exc)}
        if cfg.profile:
            results["profile"] = await phase_profile(run)
    finally:
        stop_all_children()
        if not cfg.keep:
            with contextlib.suppress(Exception):
                removed = await delete_topics(stack.bootstrap, prefix)
                P.done(f"cleaned up: deleted {removed} topics under {prefix}, "
                       f"flushed Redis db {cfg.redis_db}")
            with contextlib.suppress(Exception):
                await flush_db(stack.redis_url(cfg.redis_db))
            for path in Path(tempfile.gettempdir()).glob(f"gatekeeper-{prefix}*"):
                shutil.rmtree(path, ignore_errors=True)

    gk = results.setdefault("gatekeeper", {})
    pt = results.get("passthrough", {})
    aio = results.get("aiokafka_passthrough", {})
    latency = results.get("latency", {}).get("latency_ms", {})
    if latency:
        gk["latency_ms"] = latency
    if gk.get("rps") and pt.get("rps"):
        results["ratio_gatekeeper_to_passthrough"] = round(gk["rps"] / pt["rps"], 3)
    if gk.get("rps") and aio.get("rps"):
        results["ratio_gatekeeper_to_aiokafka"] = round(gk["rps"] / aio["rps"], 3)
    results["redis_roundtrips_per_batch"] = gk.get("redis_round_trips_per_batch")
    results["redis_bytes_per_debtor"] = gk.get("redis_bytes_per_debtor")
    results["lua_decisions_per_s"] = results.get("lua", {}).get("lua_decisions_per_s")
    results["redis_set_pipeline_per_s"] = results.get("lua", {}).get("redis_set_pipeline_per_s")

    def check(value: Any, ok: Callable[[Any], bool]) -> bool | None:
        return None if value is None else ok(value)

    results["targets_met"] = {
        "throughput": check(results.get("ratio_gatekeeper_to_passthrough"), lambda v: v >= 0.8),
        "latency": check(latency.get("p99"), lambda v: v <= 25),
        "roundtrips": check(results["redis_roundtrips_per_batch"], lambda v: v <= 1),
        "memory": check(results["redis_bytes_per_debtor"], lambda v: v <= 300),
    }
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["total_seconds"] = round(P.elapsed(), 1)
    return results


def use_source(ref: str | None) -> Path | None:
    """With a ref: export it to a temporary directory and make every process of the run
    import gatekeeper (and read policies/, schemas/) from there. Returns that directory."""
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    if not ref:
        modified = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                   "gatekeeper", "policies", "schemas"],
                                  capture_output=True, text=True).stdout.split("\n")
        SOURCE.update(info={"work_tree": True, "head": head,
                            "modified": [m[3:] for m in modified if m.strip()]})
        return None
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", ref + "^{commit}"],
                            capture_output=True, text=True)
    if commit.returncode != 0:
        raise SystemExit(f"benchmarks/run: unknown git revision {ref!r}")
    target = Path(tempfile.mkdtemp(prefix="gk-bench-src-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref, "gatekeeper",
                              "policies", "schemas"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    passthrough = target / "gatekeeper" / "stream" / "passthrough.py"
    if not passthrough.exists():  # older revisions: the baseline from the work tree
        shutil.copy(ROOT / "gatekeeper" / "stream" / "passthrough.py", passthrough)
    SOURCE.update(dir=target, info={"ref": ref, "commit": commit.stdout.strip()})
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(target), os.environ.get("PYTHONPATH")) if p)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small counts: a smoke check in under ~2 minutes")
    parser.add_argument("--messages", type=int, help="messages per saturation run")
    parser.add_argument("--debtors", type=int, help="debtors in the book (default 100,000)")
    parser.add_argument("--rate", type=float, help="offered load of the latency run (1000/s)")
    parser.add_argument("--latency-seconds", type=float, help="measured part of the latency run")
    parser.add_argument("--low-rate", type=float,
                        help="a shorter latency run first at this rate (250/s; 0: none)")
    parser.add_argument("--redis-db", type=int, help="Redis database to use (default 12; "
                        "it and the next one are flushed)")
    parser.add_argument("--profile", action="store_true",
                        help="one more gatekeeper saturation run under py-spy")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run's topics and Redis data afterwards")
    parser.add_argument("--out", type=Path, help="also write the results here")
    parser.add_argument("--wait-idle", type=float,
                        help="before each measured phase, wait up to this many seconds for "
                        "other processes to go quiet (full: 60, quick: 0)")
    parser.add_argument("--workers", type=int, help="processes per app (one consumer group; "
                        "default 1); the profile run always uses one")
    parser.add_argument("--seed", choices=("topic", "direct"), default="topic",
                        help="debtor events for 5%% of the book: produced to the worker's "
                        "debtor.events before it starts (default), or applied to Redis by "
                        "the harness (the worker then learns them by stale answers)")
    parser.add_argument("--phases", help="comma-separated subset of "
                        "aiokafka,faust,gatekeeper,latency,lua (default: all)")
    parser.add_argument("--ref", help="benchmark this git revision (exported with git archive "
                        "to a temporary directory) instead of the work tree as it is")
    args = parser.parse_args()
    cfg = Config.from_args(args)
    out = args.out
    exported = use_source(args.ref)
    # SIGTERM takes the Ctrl-C path: asyncio.run cancels the run, whose cleanup stops the
    # workers and deletes the run's topics
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    print(f"gatekeeper benchmark ({'quick' if cfg.quick else 'full'}): {cfg.messages:,} "
          f"messages per saturation run, {cfg.debtors:,} debtors, latency at "
          f"{cfg.rate:,.0f}/s for {cfg.latency_seconds:.0f}s", flush=True)
    try:
        results = asyncio.run(main_async(cfg))
    except KeyboardInterrupt:
        stop_all_children()
        print("\ninterrupted; workers stopped.", file=sys.stderr)
        return 130
    except Exception as exc:
        stop_all_children()
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stop_all_children()
        if exported:
            shutil.rmtree(exported, ignore_errors=True)
    results_dir = HERE / "results"
    data = orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    # only a run of every phase is "latest"; a subset (--phases) goes to partial.json
    paths = ([results_dir / "latest.json", results_dir / f"{results['mode']}.json"]
             if cfg.phases == PHASES else [results_dir / "partial.json"])
    for path in paths + ([out] if out else []):
        path.write_bytes(data + b"\n")
    print()
    print(table(results))
    print(f"\nmachine: {results['machine']['cores']} cores, {results['machine']['cpu_model']}, "
          f"{results['machine']['memory']}; " + ", ".join(
              f"{k} {v}" for k, v in results["versions"].items()))
    print(f"results: {paths[0].relative_to(ROOT)} "
          f"({results['total_seconds']:.0f}s)")
    hot = (results.get("profile") or {}).get("hot_spots") or {}
    if hot:
        print(f"\nprofile of the worker (py-spy, {hot['samples']:,} samples), by component:")
        for name, pct in hot["components_pct"]:
            print(f"  {pct:5.1f}%  {name}")
        print("hottest functions (self time):")
        for name, pct in hot["self_pct"][:15]:
            print(f"  {pct:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
