#!/usr/bin/env python3
"""The console's decision index: ingest rate and query latency at scale.

Runs alone (no Kafka, no Redis): synthetic record traffic (``gatekeeper.console.index.sample``:
every decision on contact.decisions, blocks also on contact.review, events and outcomes
mixed in) over ``--days`` days is generated into files (in parallel, one process per core,
alongside the ingest; kept under ``--cache`` by its parameters and reused by the next run),
then written into a fresh index in batches through the console consumer's ``Pipeline`` (each
batch parsed in a process of its own while the previous one is written); then each console
query runs ``--repeat`` times with varied arguments. Prints a table against the targets
(ingest >= 20,000 decisions/s; p95 <= 200 ms per query) and writes
``benchmarks/results/console_index.json``.

    .venv/bin/python benchmarks/console_index.py --decisions 1000000
    .venv/bin/python benchmarks/console_index.py --decisions 10000000 --path /tmp/idx.sqlite

The marginal cost at a size: build an index of the first parts once (``--parts 0:38 --path
FILE``), then copy it and ``--extend`` the copy with the next parts (``--parts 38:40``): the
copy's stored offsets number the messages on, as the consumer's would.

Ingest is timed without the reading of the traffic files (and any wait for a part being
generated: timed apart), in wall-clock time and in CPU time of the writing process and of
the parsing one (the machine may be shared: CPU time shows the cost).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import os
import pickle
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gatekeeper.console.index import QueueFilter  # noqa: E402
from gatekeeper.console.index.consumer import BATCH  # noqa: E402
from gatekeeper.console.index.pipeline import GROUP, GROUP_SECONDS, Pipeline  # noqa: E402
from gatekeeper.console.index.rows import Message  # noqa: E402
from gatekeeper.console.index.sample import (  # noqa: E402
    CHANNELS,
    REGIONS,
    RULES,
    Topics,
    traffic,
)
from gatekeeper.console.index.sqlite import SqliteIndex  # noqa: E402

DAY = 86_400_000
INGEST_TARGET = 20_000
P95_TARGET_MS = 200.0


CHUNK = 250_000  # decisions per part of the generated traffic (one file each)


class Traffic:
    """The synthetic traffic as files of pickled batches (one file per ``CHUNK`` decisions)
    in a folder of ``--cache`` named by its parameters. The parts not there yet are generated
    in parallel (one process per core) while the ingest reads those that are; a later run
    with the same parameters finds them all."""

    def __init__(self, args: argparse.Namespace, now: int,
                 offsets: dict[str, int] | None = None):
        self.args = args
        self.offsets = offsets or {}  # the first offset per kind (an extended index's)
        source = Path(__file__).resolve().parents[1] / "gatekeeper/console/index/sample.py"
        version = hashlib.blake2b(source.read_bytes(), digest_size=4).hexdigest()
        key = f"{args.decisions}-{args.debtors}-{args.days}-{args.seed}-{version}"
        self.folder = Path(args.cache) / key
        self.folder.mkdir(parents=True, exist_ok=True)
        self.parts = [self.folder / f"part-{n:05d}.pickle"
                      for n in range((args.decisions + CHUNK - 1) // CHUNK)]
        self.chosen = self.parts[args.first_part:args.end_part]
        # the time range ends days after the first message (decision 0 is at its start)
        self.end = self._first_time() + args.days * DAY if self.parts[0].exists() else now
        missing = [(n, path) for n, path in enumerate(self.parts)
                   if not path.exists() and (path in self.chosen or n == 0)]
        self.started = time.perf_counter()
        self.pool = ProcessPoolExecutor(max_workers=os.cpu_count() or 1) if missing else None
        self.jobs: dict[Path, Future[float]] = {}
        self.generate_cpu = 0.0  # CPU seconds of the generating processes
        for n, path in missing:
            assert self.pool is not None
            self.jobs[path] = self.pool.submit(generate_part, path, n * CHUNK, self.end, args)
        print(f"traffic: {len(self.parts) - len(missing)} of {len(self.parts)} parts found in "
              f"{self.folder}" + (f"; generating {len(missing)} in parallel with the ingest"
                                  if missing else ""), flush=True)

    def _first_time(self) -> int:
        with self.parts[0].open("rb") as source:
            return int(pickle.load(source)[0][2])

    def batches(self, size: int) -> Iterator[list[Message]]:
        """The messages in batches, the offsets numbered on (one partition a topic); waits
        for a part being generated."""
        topics = Topics()
        offsets = {kind: self.offsets.get(kind, 0)
                   for kind in ("decisions", "review", "events", "outcomes")}
        pending: list[Message] = []
        for path in self.chosen:
            job = self.jobs.get(path)
            if job is not None:
                self.generate_cpu += job.result()
            with path.open("rb") as source:
                while True:
                    try:
                        rows = pickle.load(source)
                    except EOFError:
                        break
                    for kind, key, when, value in rows:
                        offset = offsets[kind]
                        offsets[kind] = offset + 1
                        pending.append(Message(kind, getattr(topics, kind), 0, offset, when,
                                               key, value))
                    while len(pending) >= size:
                        yield pending[:size]
                        del pending[:size]
        if pending:
            yield pending
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
            print(f"traffic: generated in {time.perf_counter() - self.started:.1f} s "
                  "(alongside the ingest)", flush=True)


def generate_part(path: Path, first: int, end: int, args: argparse.Namespace) -> float:
    """One part of the traffic into a file: batches of (kind, key, time, value) tuples;
    returns the CPU time it took."""
    cpu = time.process_time()
    stream = traffic(args.decisions, debtors=args.debtors, start_ms=end - args.days * DAY,
                     end_ms=end, seed=args.seed, first=first, count=CHUNK)
    with path.with_suffix(".tmp").open("wb") as out:
        while batch := [(m.kind, m.key, m.timestamp, m.value)
                        for m in itertools.islice(stream, 20_000)]:
            pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
    path.with_suffix(".tmp").rename(path)
    return time.process_time() - cpu


async def ingest(index: SqliteIndex, args: argparse.Namespace, source: Traffic
                 ) -> dict[str, Any]:
    """Every message into the index through the consumer's pipeline (parsed in a process of
    its own while the index writes); the reading of the files (and any wait for a part
    being generated) is timed apart."""
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-writer")
    pipeline = Pipeline(index, writer, group=args.group, group_seconds=args.group_seconds)
    batches = source.batches(args.batch)
    read = read_cpu = 0.0
    decisions = messages = 0
    report = time.monotonic()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    thread0 = writer.submit(time.thread_time).result()  # the writer thread's own CPU time
    t0, c0 = time.perf_counter(), time.process_time()
    while True:
        t, c = time.perf_counter(), time.thread_time()
        batch = next(batches, None)
        read += time.perf_counter() - t
        read_cpu += time.thread_time() - c
        stats = await (pipeline.put(batch, more=True) if batch else pipeline.drain())
        if stats is not None:
            decisions += stats.decisions
            messages += stats.messages
        if batch is None:
            break
        if time.monotonic() - report > 10:
            report = time.monotonic()
            wall = time.perf_counter() - t0 - read
            print(f"  {decisions:,} decisions indexed, {decisions / wall:,.0f}/s", flush=True)
    total = time.perf_counter() - t0
    cpu = time.process_time() - c0 - read_cpu  # the writing process, without the reading
    thread_cpu = writer.submit(time.thread_time).result() - thread0
    pipeline.close()  # (the parser's process ends: its CPU time is then the children's)
    writer.submit(index.close).result()  # the writer thread's connection
    writer.shutdown()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # the children that ended meanwhile: the parser, and any generating processes
    parser_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime) \
        - source.generate_cpu
    wall = total - read
    return {"decisions": decisions, "messages": messages, "seconds": round(wall, 1),
            "seconds_with_reading": round(total, 1), "read_seconds": round(read, 1),
            "read_cpu_seconds": round(read_cpu, 1),
            "cpu_seconds": round(cpu, 1), "writer_thread_cpu_seconds": round(thread_cpu, 1),
            "parser_cpu_seconds": round(parser_cpu, 1),
            "decisions_per_s": round(decisions / wall),
            "decisions_per_s_with_reading": round(decisions / total),
            "messages_per_s": round(messages / wall),
            "decisions_per_cpu_s": round(decisions / (cpu + parser_cpu)),
            # the writer is the slower half: on a core of its own (the parser on the other),
            # this is the rate the ingest can reach
            "decisions_per_writer_cpu_s": round(decisions / cpu),
            # of those, the writer thread's (SQLite): what bounds the ingest when the
            # process's other threads (shipping batches to the parser) find a core
            "us_per_decision_writer_thread": round(thread_cpu / decisions * 1e6, 1)}


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
    parser.add_argument("--group", type=int, default=GROUP,
                        help="messages per transaction at most, batches sharing it (default: "
                             "the consumer's, while catching up; 0: one batch each)")
    parser.add_argument("--group-seconds", type=float, default=GROUP_SECONDS,
                        help="and seconds a transaction stays open at most (default: the "
                             "consumer's)")
    parser.add_argument("--repeat", type=int, default=50, help="runs of each query")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--path", help="index file (default: a temporary one, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the index file")
    parser.add_argument("--parts", default=":", type=part_range,
                        help=f"FIRST:END: only these parts of the traffic ({CHUNK:,} decisions "
                             "each), e.g. 0:38 (default: all)")
    parser.add_argument("--extend", action="store_true",
                        help="add to the index at --path (its offsets number the messages on) "
                             "instead of starting a fresh one")
    parser.add_argument("--cache", default=str(Path(__file__).parent / "results" / "logs" /
                                               "console_traffic"),
                        help="where the generated traffic is kept, by its parameters, and "
                             "reused (default: benchmarks/results/logs/console_traffic)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "console_index.json"))
    args = parser.parse_args()
    args.first_part, args.end_part = args.parts
    if args.extend and not args.path:
        parser.error("--extend needs --path: the index to add to")
    args.debtors = args.debtors or max(args.decisions // 20, 10)
    folder = None
    if args.path:
        path = Path(args.path)
    else:
        folder = tempfile.mkdtemp(prefix="gk-console-index-")
        path = Path(folder) / "index.sqlite"
    if args.extend and not path.exists():
        parser.error(f"--extend: no index at --path {path}")
    if not args.extend:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    index = SqliteIndex(path)
    kind_of = {name: kind for kind, name in vars(Topics()).items()}
    offsets = {kind_of[topic]: n for (topic, _), n in index.offsets().items()
               if topic in kind_of}
    source = Traffic(args, int(time.time() * 1000), offsets)
    end = source.end
    parts = f"parts {args.first_part}:{args.end_part} of " if args.parts != (None, None) else ""
    print(f"ingesting {parts}{args.decisions:,} decisions ({args.debtors:,} debtors, "
          f"{args.days} days) into {path}" + (" (extending it)" if args.extend else ""),
          flush=True)
    result: dict[str, Any] = {"ingest": asyncio.run(ingest(index, args, source)),
                              "traffic": str(source.folder)}
    result["ingest"]["file_mib"] = round(sum(
        Path(f"{path}{suffix}").stat().st_size for suffix in ("", "-wal")
        if Path(f"{path}{suffix}").exists()) / 2**20)
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
    result["setup"] = {"decisions": args.decisions, "parts": [args.first_part, args.end_part],
                       "extend": args.extend, "debtors": args.debtors,
                       "days": args.days, "batch": args.batch,
                       "group": args.group, "group_seconds": args.group_seconds,
                       "repeat": args.repeat,
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


def part_range(text: str) -> tuple[int | None, int | None]:
    """--parts "FIRST:END" (either may be left out)."""
    first, colon, end = text.partition(":")
    try:
        if not colon:
            raise ValueError(text)
        return (int(first) if first else None, int(end) if end else None)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--parts: expected FIRST:END (part numbers, e.g. 0:38), found {text!r}") from None


def report(result: dict[str, Any]) -> None:
    ingest_ = result["ingest"]
    met = "met" if ingest_["decisions_per_s"] >= INGEST_TARGET else "NOT met"
    print(f"\ningest: {ingest_['decisions']:,} decisions ({ingest_['messages']:,} messages) "
          f"in {ingest_['seconds']} s = {ingest_['decisions_per_s']:,} decisions/s "
          f"({ingest_['decisions_per_cpu_s']:,} per CPU second of both processes); target >= "
          f"{INGEST_TARGET:,}/s: {met}; index file {ingest_['file_mib']:,} MiB")
    if "read_seconds" in ingest_:
        print(f"  CPU: writer {ingest_['cpu_seconds']} s ({ingest_['decisions_per_writer_cpu_s']:,}"
              f" decisions per second of its CPU; its writing thread "
              f"{ingest_.get('us_per_decision_writer_thread', '?')} us a decision), parser "
              f"{ingest_['parser_cpu_seconds']}"
              f" s; reading the traffic files {ingest_['read_seconds']} s more "
              f"({ingest_.get('read_cpu_seconds', '?')} s of CPU) "
              f"({ingest_['decisions_per_s_with_reading']:,} decisions/s with it)")
    print(f"\n{'query':<36} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  target p95 <= 200 ms")
    for name, row in result["queries"].items():
        verdict = "met" if row["p95_ms"] <= P95_TARGET_MS else "NOT met"
        print(f"{name:<36} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8}  {verdict}")
    print(f"(load average during the run: {result['setup']['load_average']})")


if __name__ == "__main__":
    sys.exit(main())
