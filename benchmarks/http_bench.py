#!/usr/bin/env python3
"""The HTTP API benchmark alone: `gatekeeper serve` (one process) under closed and open load.

    benchmarks/http_bench.py [--quick] [--profile] [--clients 64] [--http-seconds S]
                             [--http-rate 500] [--http-latency-seconds S] [--debtors N]
                             [--http-redis-db 11] [--no-baseline] [--http-out FILE]

The same measurement as the `http` phase of `benchmarks/run` (benchmarks/phases/http.py says
what it does), on the local stack (`scripts/stack up`: GK_STACK_DIR, GK_KAFKA_PORT,
GK_KAFKA_CONTROLLER_PORT, GK_REDIS_PORT are honoured), with Redis database 11
(`--http-redis-db`, flushed) and topics of its own (`httpbench<time>.`, deleted afterwards).
Results: benchmarks/results/http.json (and `--http-out`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from clients import delete_topics  # noqa: E402
from phases.http import HttpConfig, measure, table  # noqa: E402

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


def git_commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from gatekeeper.brokers import bootstrap

    env = stack_env()
    prefix = f"httpbench{int(time.time())}."
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cfg = HttpConfig(broker=env["GATEKEEPER_BROKER"],
                     redis=env["GATEKEEPER_REDIS"].rsplit("/", 1)[0] + f"/{args.redis_db}",
                     prefix=prefix, log_dir=logs, clients=args.clients, seconds=args.seconds,
                     rate=args.rate, latency_seconds=args.latency_seconds,
                     debtors=args.debtors, baseline=args.baseline, profile=args.profile)
    try:
        result = await measure(cfg)
    finally:
        try:
            await delete_topics(bootstrap(cfg.broker), prefix)
        except Exception as exc:  # noqa: BLE001 - cleanup is best effort
            print(f"http bench: topics {prefix}* not deleted: {exc}", file=sys.stderr)
    return {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "commit": git_commit(), **result}


def main() -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/http_bench.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 s runs instead of 20 s")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy on the server during the saturation run: CPU per check "
                        "by component")
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
    args = parser.parse_args()
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
