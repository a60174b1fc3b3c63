#!/usr/bin/env python3
"""The HTTP API benchmark: `gatekeeper serve` (one process) under closed and open load.

    benchmarks/http_bench.py [--quick] [--clients 64] [--http-seconds S] [--http-rate 500]
                             [--http-latency-seconds S] [--debtors N] [--http-redis-db 11]
                             [--http-out FILE]

1. brings up the local stack (`scripts/stack up`: GK_STACK_DIR, GK_KAFKA_PORT,
   GK_KAFKA_CONTROLLER_PORT, GK_REDIS_PORT are honoured), flushes Redis database 11
   (`--http-redis-db`), and starts `gatekeeper serve` with the `default` pack on topics of its own
   (`httpbench<time>.`), with an API key made for the run;
2. saturation: `--clients` concurrent clients (keep-alive connections), each posting the
   next check as soon as the last one is answered, for `--seconds`: checks/s;
3. latency: checks offered at `--http-rate` per second on a fixed schedule (open loop: a check
   is due at its time whether or not earlier ones were answered), for
   `--http-latency-seconds`;
   latency = answer time - due time, so queueing in the client counts too: p50/p95/p99.

First, the same clients run against a bare aiohttp server that reads the body and answers a
constant (`--no-baseline` skips it): what this machine's HTTP stack does without any work.
The checks come from `gatekeeper/traffic.py` (the stream benchmark's mix: skewed debtors in 16
zones, 2 % malformed bodies that get 422, 1 % re-sends that get their recorded decision).
The client runs in this process, the server in its own; both CPU times are reported.
Results: benchmarks/results/http.json (and `--http-out`). `benchmarks/run` runs this after the
stream phases (it ignores the options it does not know, and skips itself under `--phases`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gatekeeper.http.auth import KeyFile  # noqa: E402
from gatekeeper.traffic import BENCH, Traffic  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def stack_env() -> dict[str, str]:
    """`scripts/stack up` (idempotent); its export lines as a dict."""
    out = subprocess.run([str(ROOT / "scripts" / "stack"), "up"], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         timeout=300).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value.strip("'\"")
    return env


BARE = """
import sys
from aiohttp import web
async def check(request):
    await request.read()
    return web.Response(body=b'{"decision": "allowed"}', content_type="application/json")
app = web.Application()
app.router.add_post("/v1/check", check)
app.router.add_get("/readyz", lambda request: check(request))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


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
                    raise RuntimeError("gatekeeper serve exited:\n" + self.log.read_text())
                try:
                    async with session.get(self.url + "/readyz") as answer:
                        if answer.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError("gatekeeper serve did not get ready:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


async def saturate(url: str, key: str, bodies: list[bytes], clients: int, seconds: float
                   ) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    at = iter(range(len(bodies)))
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            body = bodies[next(at) % len(bodies)]
            sent = time.perf_counter()
            async with session.post(url + "/v1/check", data=body, headers=headers) as answer:
                await answer.read()
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
            latencies.append(time.perf_counter() - sent)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        client_cpu = time.process_time()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.monotonic() - started
        client_cpu = time.process_time() - client_cpu
    done = sum(statuses.values())
    return {"clients": clients, "seconds": round(elapsed, 2), "checks": done,
            "checks_per_second": round(done / elapsed), "statuses": statuses,
            "latency_ms": {"p50": round(percentile(latencies, 50) * 1000, 2),
                           "p99": round(percentile(latencies, 99) * 1000, 2)},
            "client_cpu_cores": round(client_cpu / elapsed, 2)}


async def open_loop(url: str, key: str, bodies: list[bytes], rate: float, seconds: float
                    ) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    late = 0
    count = int(rate * seconds)

    async def one(session: aiohttp.ClientSession, body: bytes, due: float) -> None:
        async with session.post(url + "/v1/check", data=body, headers=headers) as answer:
            await answer.read()
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
        latencies.append(time.perf_counter() - due)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        # warm the connection pool first, so that connecting is not measured
        await asyncio.gather(*(one(session, bodies[i], time.perf_counter())
                               for i in range(min(32, len(bodies)))))
        latencies.clear()
        statuses.clear()
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
    return {"rate": rate, "seconds": seconds, "checks": count, "statuses": statuses,
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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = stack_env()
    run_id = f"httpbench{int(time.time())}"
    redis = env["GATEKEEPER_REDIS"].rsplit("/", 1)[0] + f"/{args.redis_db}"
    import redis as redis_client

    redis_client.Redis.from_url(redis).flushdb()
    keys_dir = Path(tempfile.mkdtemp(prefix="gk-http-bench-"))
    _, key = KeyFile(keys_dir).add("bench")
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    server_env = {**env, "GATEKEEPER_REDIS": redis, "GATEKEEPER_TOPIC_PREFIX": run_id + ".",
                  "GATEKEEPER_APP_ID": run_id, "GATEKEEPER_POLICY": "default",
                  "GATEKEEPER_HASH_KEY": "http-bench-hash-key",
                  "GATEKEEPER_API_KEYS_DIR": str(keys_dir), "GATEKEEPER_METRICS_PORT": "0",
                  "GATEKEEPER_CONSOLE_ENABLED": "false"}  # the API alone is measured
    mix = Traffic(BENCH, args.debtors, seed=11, run=run_id)
    total = int(max(args.seconds * 5000, args.rate * args.latency_seconds) + 64)
    bodies = [mix.message()[1] for _ in range(total)]
    print(f"http bench: {len(bodies):,} checks generated over {args.debtors:,} debtors",
          file=sys.stderr)
    baseline = None
    if args.baseline:  # the same clients against an aiohttp server that only answers
        bare = Server({}, logs / "http-bare.log", bare=True)
        try:
            await bare.ready()
            cpu0 = cpu_seconds(bare.process.pid)
            baseline = await saturate(bare.url, key, bodies, args.clients, args.seconds)
            baseline["server_cpu_cores"] = round(
                (cpu_seconds(bare.process.pid) - cpu0) / baseline["seconds"], 2)
        finally:
            bare.stop()
        print(f"http bench: bare aiohttp {baseline['checks_per_second']:,} answers/s",
              file=sys.stderr)
    server = Server(server_env, logs / "http-serve.log")
    try:
        await server.ready()
        cpu0 = cpu_seconds(server.process.pid)
        saturation = await saturate(server.url, key, bodies, args.clients, args.seconds)
        cpu = cpu_seconds(server.process.pid) - cpu0
        saturation["server_cpu_cores"] = round(cpu / saturation["seconds"], 2)
        saturation["server_cpu_ms_per_check"] = round(cpu / saturation["checks"] * 1000, 3)
        metrics = await scrape(server.url)
        batches = metrics.get("gatekeeper_http_batch_size_count", 0)
        saturation["mean_batch"] = round(
            metrics.get("gatekeeper_http_batch_size_sum", 0) / batches, 1) if batches else None
        print(f"http bench: saturation {saturation['checks_per_second']:,} checks/s",
              file=sys.stderr)
        rest = bodies[saturation["checks"] % len(bodies):] + bodies
        latency = await open_loop(server.url, key, rest, args.rate, args.latency_seconds)
    finally:
        server.stop()
        await topics_cleanup(env, run_id)
    return {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "load_average": os.getloadavg(), "commit": git_commit(),
            "saturation": saturation, "latency": latency, "bare_aiohttp": baseline}


async def topics_cleanup(env: dict[str, str], prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    from gatekeeper.topics import bootstrap

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(env["GATEKEEPER_BROKER"]))
    try:
        await admin.start()
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    except Exception as exc:  # noqa: BLE001 - cleanup is best effort
        print(f"http bench: topics {prefix}.* not deleted: {exc}", file=sys.stderr)
    finally:
        await admin.close()


def git_commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(result: dict[str, Any]) -> str:
    s, lat = result["saturation"], result["latency"]
    lines = ["", "HTTP API (gatekeeper serve, one process, default pack)",
             f"  {s['clients']} clients, closed loop   {s['checks_per_second']:>7,} checks/s"
             f"   (mean batch {s['mean_batch']}, server {s['server_cpu_cores']} cores, "
             f"client {s['client_cpu_cores']} cores; p50 {s['latency_ms']['p50']} ms)",
             f"  {lat['rate']:.0f}/s offered, open loop   p50 {lat['latency_ms']['p50']} ms  "
             f"p95 {lat['latency_ms']['p95']} ms  p99 {lat['latency_ms']['p99']} ms  "
             f"max {lat['latency_ms']['max']} ms",
             f"  statuses: saturation {s['statuses']}, latency {lat['statuses']}"]
    lines.append(f"  server CPU per check: {s['server_cpu_ms_per_check']} ms "
                 f"(= {1000 / s['server_cpu_ms_per_check']:,.0f} checks/s on a core of its own)")
    if result["bare_aiohttp"]:
        bare = result["bare_aiohttp"]
        per = bare["server_cpu_cores"] * bare["seconds"] / max(bare["checks"], 1) * 1000
        lines.append(f"  the same clients against a bare aiohttp server: "
                     f"{bare['checks_per_second']:,} answers/s, {per:.3f} ms CPU per answer "
                     f"(gatekeeper serve = {s['checks_per_second'] / bare['checks_per_second']:.0%}"
                     " of its rate)")
    lines.append("  load average at the end (other processes): "
                 + " ".join(f"{x:.1f}" for x in result["load_average"]))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/http_bench.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 s runs instead of 20 s")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--http-seconds", dest="seconds", type=float,
                        help="saturation run (20 s; quick 6 s)")
    parser.add_argument("--http-rate", dest="rate", type=float, default=500.0,
                        help="offered checks/s of the latency run (500)")
    parser.add_argument("--http-latency-seconds", dest="latency_seconds", type=float,
                        help="latency run (20 s; quick 6 s)")
    parser.add_argument("--debtors", type=int, default=100_000)
    parser.add_argument("--http-redis-db", dest="redis_db", type=int, default=11)
    parser.add_argument("--http-out", dest="out", type=Path)
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the bare aiohttp server run")
    parser.add_argument("--phases", help="(benchmarks/run) run only when it names http")
    args, _unknown = parser.parse_known_args()  # benchmarks/run passes the stream's too
    if args.phases is not None and "http" not in args.phases.split(","):
        return 0
    args.seconds = args.seconds or (6.0 if args.quick else 20.0)
    args.latency_seconds = args.latency_seconds or (6.0 if args.quick else 20.0)
    result = asyncio.run(run(args))
    print(table(result))
    text = json.dumps(result, indent=2) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "http.json").write_text(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
