"""The HTTP API: `gatekeeper serve` (one process) under closed and open load.

1. a bare aiohttp server (same event loop as serve: uvloop) answering a constant, under the
   same load generator: what this machine's HTTP stack costs without any work;
2. saturation: `clients` keep-alive connections, each posting the next check as soon as the
   last one is answered, for `seconds`: checks/s, and the server's CPU per check. The load
   comes from `wrk` (C; Debian's package) when it is installed (`http_load.lua`), else from
   an aiohttp client in this process (which then takes a good part of a core of its own);
3. latency: checks offered at `rate` per second on a fixed schedule (open loop: a check is
   due at its time whether or not earlier ones were answered); latency = answer time - due
   time, so queueing in the client counts too: p50/p95/p99;
4. with `profile`, py-spy records the server during the saturation run, and the samples are
   summed by component (`COMPONENTS`) into microseconds of CPU per check.

The checks come from `gatekeeper/traffic.py` (the stream benchmark's mix: skewed debtors in 16
zones, 2 % malformed bodies that get 422, 1 % re-sends that get their recorded decision).
`benchmarks/run` runs it as the phase `http`; `benchmarks/http_bench.py` runs it alone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from harness import P, Run

HERE = Path(__file__).resolve().parent.parent
THROUGHPUT_TARGET = 3000.0  # checks/s with 64 clients, one process (issue 11)
LATENCY_TARGET_MS = 10.0  # p99 at 500/s offered
OPEN_LOOP_CONNECTIONS = 128
VEGETA_MODULE = "github.com/tsenart/vegeta/v12@v12.13.0"
BARE = """
import sys
import uvloop
from aiohttp import web
async def check(request):
    await request.read()
    return web.Response(body=b'{"decision": "allowed"}', content_type="application/json")
app = web.Application()
app.router.add_post("/v1/check", check)
app.router.add_get("/readyz", check)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
            loop=uvloop.new_event_loop())
"""
# py-spy frames (file or function) -> component, looked for from the innermost frame out;
# the first frame that names one decides (asyncio's and aiokafka's connection frames count
# for whoever called them)
COMPONENTS = [
    ("http/auth.py", "API key check"),
    ("gatekeeper/validate.py", "body parsing + validation"),
    ("fastjsonschema", "body parsing + validation"),
    ("read_body", "body reading"),
    ("_json (gatekeeper/http/app.py", "response encoding"),
    ("_decided", "response encoding"),
    ("prometheus_client", "metrics"), ("http/metrics.py", "metrics"),
    ("stream/routing.py", "audit records built"),
    ("http/audit.py", "audit records produced (aiokafka)"),
    ("aiokafka/producer", "audit records produced (aiokafka)"),
    ("stream/catchup.py", "events catch-up (aiokafka)"),
    ("aiokafka/consumer", "events catch-up (aiokafka)"),
    ("counters/store.py", "Redis pipeline (redis-py)"),
    ("counters/pipeline.py", "Redis pipeline (redis-py)"),
    ("redis/", "Redis pipeline (redis-py)"),
    ("gatekeeper/gate.py", "core: planning + verdicts"),
    ("gatekeeper/plan.py", "core: planning + verdicts"),
    ("gatekeeper/verdict.py", "core: planning + verdicts"),
    ("gatekeeper/localtime.py", "core: planning + verdicts"),
    ("gatekeeper/counters/", "core: planning + verdicts"),
    ("gatekeeper/policy", "core: planning + verdicts"),
    ("http/batcher.py", "batching + service"), ("http/service.py", "batching + service"),
    ("guard (gatekeeper/http/app.py", "middleware (auth, errors, request metric)"),
    ("gatekeeper/http/app.py", "route handler"),
    ("aiohttp/", "aiohttp (parsing, routing, writing)"),
]


@dataclass(frozen=True)
class HttpConfig:
    broker: str
    redis: str  # a database of its own: flushed before and after
    prefix: str  # topics of the served app: <prefix>contact.decisions...
    log_dir: Path
    clients: int = 64
    seconds: float = 20.0
    rate: float = 500.0
    latency_seconds: float = 20.0
    debtors: int = 100_000
    baseline: bool = True
    profile: bool = False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Server:
    def __init__(self, env: dict[str, str], log: Path, *, bare: bool = False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-c", BARE, str(self.port)] if bare else [
            sys.executable, "-m", "gatekeeper", "serve", "--bind", f"127.0.0.1:{self.port}"]
        self.process = subprocess.Popen(command, env={**os.environ, **env},
                                        stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                        start_new_session=True)

    async def ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError("the server exited:\n" + self.log.read_text())
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self.url + "/readyz") as answer:
                        if answer.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError("the server did not get ready:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def saturate(url: str, key: str, bodies: list[bytes], clients: int, seconds: float,
                   log_dir: Path) -> dict[str, Any]:
    """Closed loop: ``clients`` connections posting checks back to back for ``seconds``."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return await saturate_aiohttp(url, key, bodies, clients, seconds)
    path = log_dir / "http-bodies.bin"
    path.write_bytes(b"".join(b"%d\n%s" % (len(body), body) for body in bodies))
    cpu0, started = _children_cpu(), time.monotonic()
    process = await asyncio.create_subprocess_exec(
        wrk, "-t1", f"-c{clients}", f"-d{seconds:.0f}s", "--latency",
        "-s", str(HERE / "http_load.lua"), url, "--", str(path), key,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    elapsed = time.monotonic() - started
    client_cpu = _children_cpu() - cpu0
    if process.returncode != 0 or not out.strip():
        raise RuntimeError(f"wrk failed ({process.returncode}): {err.decode()[-2000:]}")
    summary = json.loads(out.decode().strip().splitlines()[-1])
    done, wall = summary["requests"], summary["microseconds"] / 1e6
    return {"load_generator": "wrk", "clients": clients, "seconds": round(wall, 2),
            "checks": done, "checks_per_second": round(done / wall),
            "statuses": dict(sorted(summary["statuses"].items())),
            "socket_errors": summary["errors"],
            "latency_ms": {"p50": round(summary["p50_us"] / 1000, 2),
                           "p99": round(summary["p99_us"] / 1000, 2)},
            "client_cpu_cores": round(client_cpu / elapsed, 2)}


async def saturate_aiohttp(url: str, key: str, bodies: list[bytes], clients: int,
                           seconds: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    at = iter(range(len(bodies) * 1000))
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            body = bodies[next(at) % len(bodies)]
            sent = time.perf_counter()
            async with session.post(url + "/v1/check", data=body, headers=headers) as answer:
                await answer.read()
                statuses[str(answer.status)] += 1
            latencies.append(time.perf_counter() - sent)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        client_cpu = time.process_time()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.monotonic() - started
        client_cpu = time.process_time() - client_cpu
    done = sum(statuses.values())
    return {"load_generator": "aiohttp client", "clients": clients,
            "seconds": round(elapsed, 2), "checks": done,
            "checks_per_second": round(done / elapsed), "statuses": dict(sorted(statuses.items())),
            "latency_ms": {"p50": round(percentile(latencies, 50) * 1000, 2),
                           "p99": round(percentile(latencies, 99) * 1000, 2)},
            "client_cpu_cores": round(client_cpu / elapsed, 2)}


def vegeta_binary() -> str | None:
    """vegeta (Go: an open-loop constant-rate generator that takes little CPU), from the PATH
    or the virtual environment; installed there with ``go install`` when Go is at hand."""
    here = Path(sys.executable).parent / "vegeta"
    found = shutil.which("vegeta") or (str(here) if here.exists() else None)
    if found is not None or shutil.which("go") is None:
        return found
    installed = subprocess.run(["go", "install", VEGETA_MODULE],
                               env={**os.environ, "GOBIN": str(here.parent)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=900)
    if installed.returncode != 0 or not here.exists():
        print(f"http: vegeta not installed ({installed.stderr.decode()[-500:]}); the aiohttp "
              "client measures the latency", file=sys.stderr)
        return None
    return str(here)


async def open_loop(url: str, key: str, bodies: list[bytes], rate: float, seconds: float,
                    log_dir: Path) -> dict[str, Any]:
    """Checks at ``rate`` per second for ``seconds``: from vegeta when there is one, else
    from an aiohttp client in this process (which, on a loaded 2-core machine, sends late)."""
    vegeta = vegeta_binary()
    if vegeta is None:
        return await open_loop_aiohttp(url, key, bodies, rate, seconds)
    return await open_loop_vegeta(vegeta, url, key, bodies, rate, seconds, log_dir)


async def open_loop_vegeta(vegeta: str, url: str, key: str, bodies: list[bytes], rate: float,
                           seconds: float, log_dir: Path) -> dict[str, Any]:
    """vegeta's latency is from each request's send to its answer; it sends on schedule as
    long as it has a free worker (it starts more as needed, up to the connections)."""
    header = {"Authorization": [f"Bearer {key}"], "Content-Type": ["application/json"]}
    count = int(rate * seconds)
    targets = log_dir / "http-vegeta-targets.jsonl"
    with targets.open("w") as out:
        for body in bodies[:count + 32]:
            out.write(json.dumps({"method": "POST", "url": url + "/v1/check", "header": header,
                                  "body": base64.b64encode(body).decode()}) + "\n")
    attack = [vegeta, "attack", "-format=json", f"-targets={targets}", f"-rate={rate:g}/s",
              f"-max-connections={OPEN_LOOP_CONNECTIONS}", "-workers=32"]
    # the warm-up opens the connections, so that connecting is not measured
    for duration, results in (("1s", log_dir / "http-vegeta-warm.bin"),
                              (f"{seconds:g}s", log_dir / "http-vegeta.bin")):
        cpu0, started = _children_cpu(), time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *attack, f"-duration={duration}", f"-output={results}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"vegeta attack failed ({process.returncode}): {err.decode()}")
        client_cpu = (_children_cpu() - cpu0) / (time.monotonic() - started)
    report = subprocess.run([vegeta, "report", "-type=json", str(results)], check=True,
                            capture_output=True).stdout
    summary = json.loads(report)
    ms = {name: round(summary["latencies"][field] / 1e6, 2)
          for name, field in (("p50", "50th"), ("p95", "95th"), ("p99", "99th"),
                              ("max", "max"))}
    return {"load_generator": "vegeta", "rate": rate, "seconds": seconds,
            "checks": summary["requests"], "achieved_rate": round(summary["rate"], 1),
            "statuses": dict(sorted(summary["status_codes"].items())),
            "errors": Counter(e for e in summary.get("errors") or []  # not the 409s/422s
                              if not e[:3].isdigit()),
            "connections": OPEN_LOOP_CONNECTIONS, "client_cpu_cores": round(client_cpu, 2),
            "latency_ms": ms}


async def open_loop_aiohttp(url: str, key: str, bodies: list[bytes], rate: float,
                            seconds: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    late = 0
    count = int(rate * seconds)

    errors: Counter[str] = Counter()

    async def one(session: aiohttp.ClientSession, body: bytes, due: float) -> None:
        try:
            async with session.post(url + "/v1/check", data=body, headers=headers) as answer:
                await answer.read()
                statuses[str(answer.status)] += 1
        except (aiohttp.ClientError, OSError) as exc:  # counted, and left out of latency
            errors[type(exc).__name__] += 1
            return
        latencies.append(time.perf_counter() - due)

    # a dialer fleet's pool: up to OPEN_LOOP_CONNECTIONS keep-alive connections; a check
    # due while all are busy waits in the client, and that wait counts in its latency
    connector = aiohttp.TCPConnector(limit=OPEN_LOOP_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        # warm the connection pool first, so that connecting is not measured
        await asyncio.gather(*(one(session, bodies[i], time.perf_counter())
                               for i in range(min(32, len(bodies)))))
        latencies.clear()
        statuses.clear()
        errors.clear()
        tasks = []
        start = time.perf_counter() + 0.1
        for i in range(count):
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.001:
                late += 1
            tasks.append(asyncio.create_task(one(session, bodies[(i + 32) % len(bodies)], due)))
        await asyncio.gather(*tasks)
    return {"load_generator": "aiohttp client", "rate": rate, "seconds": seconds,
            "checks": count,
            "statuses": dict(sorted(statuses.items())),
            "errors": dict(errors), "connections": OPEN_LOOP_CONNECTIONS,
            "sent_late_by_the_client": late,
            "latency_ms": {p: round(percentile(latencies, q) * 1000, 2)
                           for p, q in (("p50", 50), ("p95", 95), ("p99", 99),
                                        ("max", 100))}}


async def scrape(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as answer:
        text = await answer.text()
    found: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("gatekeeper_http_batch_size_sum", "gatekeeper_http_batch_size_count"):
            if line.startswith(name + " "):
                found[name] = float(line.split()[1])
    return found


def components(collapsed: Path, cpu_us_per_check: float) -> dict[str, Any]:
    """py-spy's collapsed stacks summed by component: share of the samples, and that share
    of the measured CPU per check."""
    totals: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        component = next((name for frame in reversed(frames)
                          for part, name in COMPONENTS if part in frame), "event loop, other")
        totals[component] += int(count)
    samples = sum(totals.values())
    return {"samples": samples, "cpu_us_per_check": round(cpu_us_per_check),
            "components": [(name, round(100 * n / samples, 1),
                            round(cpu_us_per_check * n / samples))
                           for name, n in totals.most_common()]}


async def measure(cfg: HttpConfig) -> dict[str, Any]:
    """The whole phase; topics are created by serve under ``cfg.prefix`` (the caller
    deletes them)."""
    import redis as redis_client

    from gatekeeper.http.auth import KeyFile
    from gatekeeper.traffic import BENCH, Traffic

    redis_client.Redis.from_url(cfg.redis).flushdb()
    keys_dir = Path(tempfile.mkdtemp(prefix="gk-http-bench-"))
    _, key = KeyFile(keys_dir).add("bench")
    app_id = cfg.prefix.rstrip(".") + "-serve"
    server_env = {"GATEKEEPER_BROKER": cfg.broker, "GATEKEEPER_REDIS": cfg.redis,
                  "GATEKEEPER_TOPIC_PREFIX": cfg.prefix, "GATEKEEPER_APP_ID": app_id,
                  "GATEKEEPER_POLICY": "default", "GATEKEEPER_HASH_KEY": "http-bench-hash-key",
                  "GATEKEEPER_API_KEYS_DIR": str(keys_dir), "GATEKEEPER_METRICS_PORT": "0",
                  "GATEKEEPER_CONSOLE_ENABLED": "false"}  # the API alone is measured
    mix = Traffic(BENCH, cfg.debtors, seed=11, run=cfg.prefix)
    total = int(max(cfg.seconds * 5000, cfg.rate * cfg.latency_seconds) + 64)
    bodies = [mix.message()[1] for _ in range(total)]
    baseline = None
    try:
        if cfg.baseline:
            bare = Server({}, cfg.log_dir / "http-bare.log", bare=True)
            try:
                await bare.ready()
                cpu0 = cpu_seconds(bare.process.pid)
                baseline = await saturate(bare.url, key, bodies, cfg.clients, cfg.seconds,
                                          cfg.log_dir)
                cpu = cpu_seconds(bare.process.pid) - cpu0
                baseline["server_cpu_cores"] = round(cpu / baseline["seconds"], 2)
                baseline["server_cpu_ms_per_answer"] = round(
                    cpu / max(baseline["checks"], 1) * 1000, 3)
            finally:
                bare.stop()
        server = Server(server_env, cfg.log_dir / "http-serve.log")
        try:
            await server.ready()
            spy = _py_spy(server.process.pid, cfg) if cfg.profile else None
            cpu0 = cpu_seconds(server.process.pid)
            saturation = await saturate(server.url, key, bodies, cfg.clients, cfg.seconds,
                                        cfg.log_dir)
            cpu = cpu_seconds(server.process.pid) - cpu0
            profile = _py_spy_done(spy, cfg, cpu / max(saturation["checks"], 1) * 1e6)
            saturation["server_cpu_cores"] = round(cpu / saturation["seconds"], 2)
            saturation["server_cpu_ms_per_check"] = round(
                cpu / max(saturation["checks"], 1) * 1000, 3)
            metrics = await scrape(server.url)
            batches = metrics.get("gatekeeper_http_batch_size_count", 0)
            saturation["mean_batch"] = round(
                metrics.get("gatekeeper_http_batch_size_sum", 0) / batches, 1) if batches else None
            rest = bodies[saturation["checks"] % len(bodies):] + bodies
            latency = await open_loop(server.url, key, rest, cfg.rate, cfg.latency_seconds,
                                      cfg.log_dir)
        finally:
            server.stop()
    finally:
        shutil.rmtree(keys_dir, ignore_errors=True)
        with contextlib.suppress(Exception):
            redis_client.Redis.from_url(cfg.redis).flushdb()
    result = {"load_average": [round(x, 2) for x in os.getloadavg()],
              "saturation": saturation, "latency": latency, "bare_aiohttp": baseline,
              "targets": {"checks_per_second": THROUGHPUT_TARGET,
                          "p99_ms_at_rate": LATENCY_TARGET_MS}}
    if profile is not None:
        result["profile"] = profile
    return result


def _py_spy(pid: int, cfg: HttpConfig) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "200", "--format",
                             "raw", "--nonblocking", "--duration", f"{cfg.seconds:.0f}",
                             "--output", str(cfg.log_dir / "http-profile.collapsed.txt")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _py_spy_done(spy: subprocess.Popen[bytes] | None, cfg: HttpConfig,
                 cpu_us_per_check: float) -> dict[str, Any] | None:
    if not cfg.profile:
        return None
    if spy is None:
        return {"error": "py-spy not installed (.venv/bin/pip install py-spy)"}
    try:
        spy.wait(60)
    except subprocess.TimeoutExpired:
        spy.kill()
        return {"error": "py-spy did not finish"}
    collapsed = cfg.log_dir / "http-profile.collapsed.txt"
    if not collapsed.exists():
        return {"error": "py-spy wrote nothing (ptrace not permitted?)"}
    return components(collapsed, cpu_us_per_check)


def table(result: dict[str, Any]) -> str:
    s, lat = result["saturation"], result["latency"]
    lines = ["HTTP API (gatekeeper serve, one process, default pack)",
             f"  {s['clients']} clients, closed loop ({s['load_generator']})   "
             f"{s['checks_per_second']:>7,} checks/s   (target >= {THROUGHPUT_TARGET:,.0f}; "
             f"mean batch {s['mean_batch']}, server {s['server_cpu_cores']} cores, "
             f"client {s['client_cpu_cores']} cores; p50 {s['latency_ms']['p50']} ms)",
             f"  {lat['rate']:.0f}/s offered, open loop ({lat.get('load_generator')})   "
             f"p50 {lat['latency_ms']['p50']} ms  "
             f"p95 {lat['latency_ms']['p95']} ms  p99 {lat['latency_ms']['p99']} ms  "
             f"max {lat['latency_ms']['max']} ms   (target p99 <= {LATENCY_TARGET_MS:.0f} ms)",
             f"  statuses: saturation {s['statuses']}, latency {lat['statuses']}"
             + (f"; connection errors {lat['errors']}" if lat.get("errors") else ""),
             f"  server CPU per check: {s['server_cpu_ms_per_check']} ms "
             f"(= {1000 / max(s['server_cpu_ms_per_check'], 1e-6):,.0f} checks/s on a core "
             "of its own)"]
    bare = result.get("bare_aiohttp")
    if bare:
        lines.append(f"  the same load against a bare aiohttp server: "
                     f"{bare['checks_per_second']:,} answers/s, "
                     f"{bare['server_cpu_ms_per_answer']:.3f} ms CPU per answer")
    profile = result.get("profile") or {}
    if profile.get("components"):
        lines.append(f"  server CPU per check by component (py-spy, {profile['samples']:,} "
                     f"samples of {profile['cpu_us_per_check']} us per check):")
        lines += [f"    {us:>5} us  {pct:5.1f}%  {name}"
                  for name, pct, us in profile["components"]]
    elif profile.get("error"):
        lines.append(f"  profile: {profile['error']}")
    lines.append("  load average at the end: "
                 + " ".join(f"{x:.1f}" for x in result["load_average"]))
    return "\n".join(lines)


async def phase_http(run: Run) -> dict[str, Any]:
    """The phase of ``benchmarks/run``: Redis database ``--redis-db`` + 2, topics under the
    run's prefix (deleted with the run's)."""
    cfg = run.cfg
    quick = 6.0 if cfg.quick else 20.0
    P.update("http: gatekeeper serve under 64 clients, then 500/s offered")
    result = await measure(HttpConfig(
        broker=run.stack.broker, redis=run.stack.redis_url(cfg.redis_db + 2),
        prefix=f"{run.prefix}http.", log_dir=run.log_dir, seconds=quick,
        latency_seconds=quick, debtors=cfg.debtors, profile=cfg.profile))
    s = result["saturation"]
    P.done(f"http: {s['checks_per_second']:,} checks/s with {s['clients']} clients "
           f"({s['server_cpu_ms_per_check']} ms server CPU per check); p99 "
           f"{result['latency']['latency_ms']['p99']} ms at {result['latency']['rate']:.0f}/s")
    return result
