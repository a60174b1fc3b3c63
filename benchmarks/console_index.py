#!/usr/bin/env python3
"""The console's decision index: ingest rate and query latency at scale.

Runs alone (no Kafka, no Redis): synthetic record traffic (``gatekeeper.console.index.sample``:
every decision on contact.decisions, blocks also on contact.review, events and outcomes
mixed in) over ``--days`` days is written into a fresh index in batches, as the console's
consumer writes it; then each console query runs ``--repeat`` times with varied arguments.
Prints a table against the targets (ingest >= 20,000 decisions/s; p95 <= 200 ms per query)
and writes ``benchmarks/results/console_index.json``.

    .venv/bin/python benchmarks/console_index.py --decisions 1000000
    .venv/bin/python benchmarks/console_index.py --decisions 10000000 --path /tmp/idx.sqlite

Ingest is timed without the generation of the messages (timed apart), in wall-clock time
and in CPU time of the process (the machine may be shared: CPU time shows the cost).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gatekeeper.console.index import QueueFilter  # noqa: E402
from gatekeeper.console.index.consumer import BATCH  # noqa: E402
from gatekeeper.console.index.sample import CHANNELS, REGIONS, RULES, traffic  # noqa: E402
from gatekeeper.console.index.sqlite import SqliteIndex  # noqa: E402

DAY = 86_400_000
INGEST_TARGET = 20_000
P95_TARGET_MS = 200.0


def ingest(index: SqliteIndex, args: argparse.Namespace, end: int) -> dict[str, Any]:
    start = end - args.days * DAY
    stream = traffic(args.decisions, debtors=args.debtors, start_ms=start, end_ms=end,
                     seed=args.seed)
    wall = cpu = generate = 0.0
    decisions = messages = 0
    report = time.monotonic()
    while True:
        t = time.perf_counter()
        batch = []
        for message in stream:
            batch.append(message)
            if len(batch) >= args.batch:
                break
        generate += time.perf_counter() - t
        if not batch:
            break
        t, c = time.perf_counter(), time.process_time()
        stats = index.ingest(batch)
        wall += time.perf_counter() - t
        cpu += time.process_time() - c
        decisions += stats.decisions
        messages += stats.messages
        if time.monotonic() - report > 10:
            report = time.monotonic()
            print(f"  {decisions:,} decisions indexed, {decisions / wall:,.0f}/s", flush=True)
    return {"decisions": decisions, "messages": messages, "seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1), "generate_seconds": round(generate, 1),
            "decisions_per_s": round(decisions / wall), "messages_per_s": round(messages / wall),
            "decisions_per_cpu_s": round(decisions / cpu)}


def queries(index: SqliteIndex, args: argparse.Namespace, end: int
            ) -> dict[str, Callable[[random.Random], Any]]:
    start = end - args.days * DAY
    rules = [r[0] for r in RULES]
    packs = sorted({r.split("/")[0] for r in rules})
    regions = [r[0] for r in REGIONS]

    def debtor(rng: random.Random) -> str:
        return f"D{rng.randrange(args.debtors):07d}"

    def deep_page(rng: random.Random) -> Any:
        page = index.queue(QueueFilter(status="all"))
        for _ in range(4):
            if page.older is None:
                break
            page = index.queue(QueueFilter(status="all"), before=page.older)
        return page

    def window(rng: random.Random) -> QueueFilter:
        since = rng.randrange(start, end - DAY)
        return QueueFilter(since=since, until=since + DAY, status="all")

    return {
        "queue, newest page": lambda rng: index.queue(QueueFilter()),
        "queue, 5th page": deep_page,
        "queue by rule": lambda rng: index.queue(QueueFilter(rule=rng.choice(rules))),
        "queue by pack": lambda rng: index.queue(QueueFilter(pack=rng.choice(packs))),
        "queue by channel": lambda rng: index.queue(QueueFilter(
            channel=rng.choice(CHANNELS))),
        "queue by region": lambda rng: index.queue(QueueFilter(region=rng.choice(regions))),
        "queue by channel+region+rule": lambda rng: index.queue(QueueFilter(
            channel=rng.choice(CHANNELS), region=rng.choice(regions), rule=rng.choice(rules))),
        "queue by one day": lambda rng: index.queue(window(rng)),
        "queue by debtor": lambda rng: index.queue(QueueFilter(debtor=debtor(rng),
                                                               status="all")),
        "debtor timeline": lambda rng: index.timeline(debtor(rng)),
        "decision page": lambda rng: index.decisions(
            f"R{rng.randrange(args.decisions):09d}"),
        "counts by rule per hour, 30 days": lambda rng: index.rule_hours(end - 30 * DAY, end),
        "overview, 30 days": lambda rng: index.overview(end - 30 * DAY, end),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--debtors", type=int, default=0,
                        help="default: one per 20 decisions")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batch", type=int, default=BATCH,
                        help="messages per transaction (default: the consumer's)")
    parser.add_argument("--repeat", type=int, default=50, help="runs of each query")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--path", help="index file (default: a temporary one, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the index file")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "console_index.json"))
    args = parser.parse_args()
    args.debtors = args.debtors or max(args.decisions // 20, 10)
    folder = None
    if args.path:
        path = Path(args.path)
    else:
        folder = tempfile.mkdtemp(prefix="gk-console-index-")
        path = Path(folder) / "index.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    end = int(time.time() * 1000)
    index = SqliteIndex(path)
    print(f"ingesting {args.decisions:,} decisions ({args.debtors:,} debtors, {args.days} "
          f"days) into {path}", flush=True)
    result: dict[str, Any] = {"ingest": ingest(index, args, end)}
    result["ingest"]["file_mib"] = round(path.stat().st_size / 2**20)
    rng = random.Random(args.seed)
    latencies: dict[str, dict[str, float]] = {}
    for name, run in queries(index, args, end).items():
        times = []
        run(rng)  # warm
        for _ in range(args.repeat):
            t = time.perf_counter()
            run(rng)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        latencies[name] = {"p50_ms": round(statistics.median(times), 2),
                           "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
                           "max_ms": round(times[-1], 2)}
    result["queries"] = latencies
    result["setup"] = {"decisions": args.decisions, "debtors": args.debtors,
                       "days": args.days, "batch": args.batch, "repeat": args.repeat,
                       "python": platform.python_version(), "cpus": os.cpu_count(),
                       "load_average": os.getloadavg()}
    index.close()
    report(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    print(f"written to {args.out}")
    if folder and not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.rmdir(folder)
    return 0


def report(result: dict[str, Any]) -> None:
    ingest_ = result["ingest"]
    met = "met" if ingest_["decisions_per_s"] >= INGEST_TARGET else "NOT met"
    print(f"\ningest: {ingest_['decisions']:,} decisions ({ingest_['messages']:,} messages) "
          f"in {ingest_['seconds']} s = {ingest_['decisions_per_s']:,} decisions/s "
          f"({ingest_['decisions_per_cpu_s']:,} per CPU second); target >= {INGEST_TARGET:,}/s: "
          f"{met}; index file {ingest_['file_mib']:,} MiB")
    print(f"\n{'query':<36} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  target p95 <= 200 ms")
    for name, row in result["queries"].items():
        verdict = "met" if row["p95_ms"] <= P95_TARGET_MS else "NOT met"
        print(f"{name:<36} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8}  {verdict}")
    print(f"(load average during the run: {result['setup']['load_average']})")


if __name__ == "__main__":
    sys.exit(main())
