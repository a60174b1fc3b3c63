"""The benchmark's harness: configuration, progress line, child processes and their CPU, the
local stack, a run's topics and app environment. The phases (benchmarks/phases/) measure;
benchmarks/bench.py runs them and reports."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

PARTITIONS = 4
PHASES = frozenset({"aiokafka", "faust", "hot", "gatekeeper", "workers2", "latency", "lua",
                    "durability", "cluster", "console", "http", "backtest"})
SOURCE: dict[str, Any] = {"dir": ROOT}  # where the benchmarked gatekeeper package is (--ref)
SIGNING_KEY = "bench-signing-key"
HASH_KEY = "bench-hash-key"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = {  # issue 13
    "throughput": "gatekeeper >= 2.0 x the faust passthrough",
    "throughput_aiokafka": "gatekeeper >= 0.25 x the aiokafka passthrough",
    "latency": "p99 <= 25 ms at 1,000 requests/s",
    "latency_low": "p99 <= 15 ms at 250 requests/s",
    "gate_decide": "Gate.decide in-process >= 20,000/s",
    "roundtrips": "<= 1 Redis round trip per batch",
    "memory": "<= 300 bytes of Redis per active debtor",
    "two_workers": "two worker processes >= 1.8 x one",
    "cluster": "3-master Redis Cluster >= 0.9 x one Redis, one pipeline per node per batch",
    "http_throughput": "gatekeeper serve >= 3,000 checks/s with 64 clients, one process",  # 11
    "http_latency": "gatekeeper serve p99 <= 10 ms at 500 checks/s offered",  # issue 11
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
    cluster_messages: int = 20_000
    console_decisions: int = 1_000_000  # the console index phase (quick: 100,000)
    latency_apps: tuple[str, ...] = ("gatekeeper", "passthrough", "hot")  # the latency phase's

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Config:
        if args.quick:
            base = cls(quick=True, messages=10_000, debtors=100_000, rate=1000.0,
                       latency_seconds=8.0, warmup_seconds=2.0, lua_calls=10_000,
                       low_seconds=4.0, timeout=90.0, cluster_messages=5_000,
                       console_decisions=100_000)
        else:
            base = cls(quick=False, messages=150_000, debtors=100_000, rate=1000.0,
                       latency_seconds=30.0, warmup_seconds=3.0, lua_calls=40_000,
                       low_seconds=15.0)
        for name in ("messages", "debtors", "rate", "latency_seconds", "redis_db", "low_rate",
                     "console_decisions"):
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
        if args.latency_apps:
            apps = tuple(a.strip() for a in args.latency_apps.split(",") if a.strip())
            unknown = set(apps) - set(cls.latency_apps)
            if unknown or not apps:
                raise SystemExit(f"benchmarks/run: --latency-apps {args.latency_apps!r}: "
                                 f"expected some of {', '.join(cls.latency_apps)}")
            base.latency_apps = apps
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
    """Until every needle is in each process's log (gatekeeper.readiness, as the demo and
    the tests wait); RuntimeError (NotReady) with the log's tail if one exits first."""
    from gatekeeper.readiness import Readiness

    for one in child if isinstance(child, Apps) else [child]:
        await Readiness(one.name, one.log_path, one.process, needles).wait_async(timeout)


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


# ------------------------------------------------------------------ a run

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
                 "events": "debtor.events", "outcomes": "contact.outcomes",
                 "decisions": "contact.decisions"}  # (each lane its own record: a worker
        # that finds its Redis empty rebuilds it from the record, and must find its own)
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


def worker_argv() -> list[str]:
    return [sys.executable, str(HERE / "gk_worker.py"), "--loglevel", "info"]


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    n = len(values)

    def at(q: float) -> float:
        return round(values[min(n - 1, max(0, int(q * n + 0.5) - 1))], 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(values[-1], 2)}
