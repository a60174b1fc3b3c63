"""How fast ``gatekeeper backtest`` replays recorded history: requests per second.

    .venv/bin/python benchmarks/backtest_bench.py [--debtors 2000] [--days 30] [--kafka]
                                                  [--out FILE]

Runs alone (no stack needed without ``--kafka``): it records a synthetic month
(``gatekeeper.analytics.synthetic``, decided by the ``default`` pack on a private
redis-server), then replays its last ``--days - 7`` days (the first week warms the counters
up) with ``gatekeeper.analytics.backtest`` on another private redis-server, twice: with the
running policy (every decision must come back identical) and with a stricter candidate.
Each phase reports its wall time and rate; the replay's figure is decided requests per
second of replay (the warm-up's restored decisions are counted apart), reading and parsing
the record excluded and measured on their own. The Python process's CPU time is reported
too: on a shared machine the wall-clock rate says as much about the neighbours as about the
code.

``--kafka`` also produces the record onto fresh topics of the local stack
(GATEKEEPER_BROKER) and times ``run_backtest`` end to end, reading included; the topics are
deleted afterwards.

Writes ``benchmarks/results/backtest.json`` (or ``--out``) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gatekeeper.analytics.backtest import Backtest, Range  # noqa: E402
from gatekeeper.analytics.entries import parse_items  # noqa: E402
from gatekeeper.analytics.parallel import Jobs, Spec  # noqa: E402
from gatekeeper.analytics.parallel import figures as parallel_figures  # noqa: E402
from gatekeeper.analytics.recorder import Message, items  # noqa: E402
from gatekeeper.analytics.run import record_synthetic  # noqa: E402
from gatekeeper.analytics.synthetic import SyntheticHistory  # noqa: E402
from gatekeeper.counters.keys import Hasher  # noqa: E402
from gatekeeper.gate import Gate  # noqa: E402
from gatekeeper.policy import load_policy  # noqa: E402
from gatekeeper.simulate import simulation_store  # noqa: E402
from gatekeeper.stream import collector  # noqa: E402

STRICT = """
pack: strict
title: calls only 09:00-18:00 local
applies_to: ["*"]
rules:
  - id: calls-9-to-18
    kind: hours
    citation: benchmark candidate
    channels: [call]
    windows:
      daily: ["09:00-18:00"]
"""
TARGET = 10_000
KEY = b"benchmark"  # the replay's hashing key (the record's is the simulation key: every
# allowed warm-up decision is planned again, as a backtest of a live record does)


async def replay(record: list[Message], policies: list[str], span: Range, jobs: int = 1
                 ) -> dict[str, Any]:
    if jobs > 1:
        return await replay_jobs(record, policies, span, jobs)
    started = time.perf_counter()
    entries = parse_items(items(record)).entries
    parsed = time.perf_counter() - started
    collector.settle()  # as the command's replay does (analytics/parallel.py)
    async with simulation_store(None) as store:
        await store.load_scripts()
        gate = Gate(load_policy(policies), store, Hasher(KEY))
        backtest = Backtest(gate, span)
        started, cpu = time.perf_counter(), time.process_time()
        await backtest.replay(entries)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return _figures(policies, len(record), parsed, seconds, cpu, backtest.stats,
                    backtest.figures()["totals"], jobs=1)


async def replay_jobs(record: list[Message], policies: list[str], span: Range, jobs: int
                      ) -> dict[str, Any]:
    """``replay`` sharded over ``jobs`` processes (``analytics.parallel``): the jobs parse
    their shares first (timed apart), then the replay is timed, wall and the jobs' CPU."""
    spec = Spec(policies, span, KEY)
    async with Jobs(spec, jobs) as replayer:
        started = time.perf_counter()
        await replayer.add(items(record))
        await replayer.parsed()
        parsed = time.perf_counter() - started
        started = time.perf_counter()
        await replayer.flush()
        seconds = time.perf_counter() - started
        result = await replayer.finish()
    totals = parallel_figures(result, spec, span.warmup_of(load_policy(policies), spec.ttls)
                              )["totals"]
    return _figures(policies, len(record), parsed, seconds, result.replay_cpu_seconds,
                    result.stats, totals, jobs=jobs)


def _figures(policies: list[str], messages: int, parsed: float, seconds: float, cpu: float,
             stats: dict[str, int], totals: dict[str, Any], *, jobs: int) -> dict[str, Any]:
    return {"policies": policies, "jobs": jobs, "parse_seconds": round(parsed, 2),
            "messages_parsed_per_second": round(messages / parsed),
            "replay_seconds": round(seconds, 2), "decided": stats["decided"],
            "restored": stats["restored"], "events": stats["events"],
            "outcomes": stats["outcomes"],
            "requests_per_second": round(stats["decided"] / seconds),
            "python_cpu_seconds": round(cpu, 2),
            "requests_per_python_cpu_second": round(stats["decided"] / cpu),
            "steps_per_second": round(sum(stats[k] for k in ("decided", "restored", "events",
                                                             "outcomes")) / seconds),
            "identical": totals["identical"], "newly_blocked": totals["newly_blocked"],
            "newly_allowed": totals["newly_allowed"]}


async def through_kafka(record: list[Message], history: SyntheticHistory) -> dict[str, Any]:
    from gatekeeper.analytics.run import _produce, run_backtest
    from gatekeeper.analytics.sources import TimeRange
    from gatekeeper.settings import Settings
    from gatekeeper.topics import ensure_topics

    prefix = f"btbench{int(time.time())}."
    settings = Settings.from_env(topic_prefix=prefix)
    await ensure_topics(settings)
    try:
        await _produce(settings, record)
        started = time.perf_counter()
        figures = await run_backtest(settings, ["default"], TimeRange(
            history.start + timedelta(days=7), history.start + timedelta(days=history.days)),
            None)
        seconds = time.perf_counter() - started
        return {"seconds": round(seconds, 2), "decided": figures["replay"]["decided"],
                "requests_per_second": round(figures["replay"]["decided"] / seconds),
                "identical": figures["totals"]["identical"]}
    finally:
        from aiokafka.admin import AIOKafkaAdminClient

        from gatekeeper.brokers import bootstrap

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(settings.broker))
        await admin.start()
        try:
            await admin.delete_topics([t for t in settings.topics.values()])
        finally:
            await admin.close()


async def record_month(debtors: int, days: int, seed: int
                       ) -> tuple[SyntheticHistory, list[Message], Range]:
    """A synthetic history decided by the ``default`` pack, and the range a backtest
    replays of it: all but its first week (which warms the counters up)."""
    history = SyntheticHistory(debtors, days, seed=seed)
    record = await record_synthetic(history, ["default"])
    return history, record, Range(history.start + timedelta(days=7),
                                  history.start + timedelta(days=days))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    history, record, span = await record_month(args.debtors, args.days, args.seed)
    recorded = time.perf_counter() - started
    decisions = sum(1 for m in record if m.kind == "decisions")
    with tempfile.TemporaryDirectory() as folder:
        strict = Path(folder) / "strict.yaml"
        strict.write_text(STRICT)
        running = await replay(record, ["default"], span)
        candidate = await replay(record, ["default", str(strict)], span)
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(), "machine": {"cpus": os.cpu_count(),
                                         "python": platform.python_version(),
                                         "load_average": list(os.getloadavg())},
        "history": {"debtors": args.debtors, "days": args.days, "messages": len(record),
                    "decisions": decisions},
        "record": {"seconds": round(recorded, 2),
                   "requests_per_second": round(decisions / recorded)},
        "running_policy": running, "stricter_candidate": candidate, "target": TARGET}
    if args.kafka:
        result["through_kafka"] = await through_kafka(record, history)
    return result


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(result: dict[str, Any]) -> str:
    h = result["history"]
    lines = [f"synthetic history: {h['debtors']:,} debtors, {h['days']} days, "
             f"{h['decisions']:,} decisions, {h['messages']:,} messages "
             f"(load average {result['machine']['load_average'][0]:.1f} on "
             f"{result['machine']['cpus']} cpus)",
             "  record (decide + outcomes, one pass):   "
             f"{result['record']['requests_per_second']:>8,} requests/s"]
    for name in ("running_policy", "stricter_candidate"):
        r = result[name]
        lines.append(f"  backtest, {name.replace('_', ' '):<22}     "
                     f"{r['requests_per_second']:>8,} requests/s  "
                     f"({r['requests_per_python_cpu_second']:,} per second of Python CPU; "
                     f"{r['decided']:,} decided, "
                     f"{r['restored']:,} warm-up, {r['steps_per_second']:,} steps/s; "
                     f"{r['identical']:,} identical, {r['newly_blocked']:,} newly blocked)")
    lines.append(f"  parsing the record:                     "
                 f"{result['running_policy']['messages_parsed_per_second']:>8,} messages/s")
    if "through_kafka" in result:
        k = result["through_kafka"]
        lines.append(f"  gatekeeper backtest through Kafka:      {k['requests_per_second']:>8,} "
                     f"requests/s ({k['seconds']} s, reading included)")
    met = result["running_policy"]["requests_per_second"] >= TARGET
    lines.append(f"  target {TARGET:,} requests/s of replay: {'met' if met else 'NOT met'}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--debtors", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--kafka", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/backtest.json")
    arguments = parser.parse_args()
    figures = asyncio.run(main(arguments))
    arguments.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(table(figures))
    print(f"written to {arguments.out}")
