"""gatekeeper benchmark: the worker side by side with a faust and a plain aiokafka passthrough.

Run through ``benchmarks/run`` (see benchmarks/README.md for the method and the figures).
One run:

1. brings up the local stack (scripts/stack up, honouring GK_STACK_DIR, GK_KAFKA_PORT,
   GK_KAFKA_CONTROLLER_PORT, GK_REDIS_PORT);
2. generates the request mix (gatekeeper/traffic.py, profile BENCH) and pre-produces N
   messages to one input topic (4 partitions);
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
6. durability: the same decide.lua workload on fresh redis-servers with no persistence, AOF
   appendfsync everysec and AOF appendfsync always, modes taking turns over a few rounds,
   pipelined (500) and one call at a time;
7. optionally (--profile) one more worker run under py-spy, summarised by component;
8. writes benchmarks/results/latest.json (and full.json / quick.json) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, clients, phases, report

from clients import create_topics, delete_topics, flush_db, produce, redis_info  # noqa: E402
from harness import (  # noqa: E402
    HERE,
    PARTITIONS,
    PHASES,
    ROOT,
    SOURCE,
    TARGETS,
    Config,
    P,
    Run,
    stack_up,
    stop_all_children,
)
from phases.backtest import phase_backtest  # noqa: E402
from phases.cluster import phase_cluster  # noqa: E402
from phases.console import console_report, phase_console  # noqa: E402
from phases.durability import phase_durability  # noqa: E402
from phases.http import phase_http  # noqa: E402
from phases.http import table as http_table  # noqa: E402
from phases.latency import phase_latency  # noqa: E402
from phases.lua import phase_lua  # noqa: E402
from phases.passthrough import phase_aiokafka, phase_faust, phase_hot  # noqa: E402
from phases.profile import phase_profile  # noqa: E402
from phases.worker import phase_gatekeeper  # noqa: E402
from report import machine, table, versions  # noqa: E402

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
                   "redis_aof": str(info.get("aof_enabled", "?")) == "1",
                   "kafka": stack.bootstrap, "redis": stack.redis_base},
        "targets": TARGETS,
        "source": SOURCE.get("info"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        lanes = ["sat", "aio", "pt", "hp", "gk", "gk2", "lat", "ptlat", "hplat"] + (
            ["prof"] if cfg.profile else [])
        topics = [run.input_topic] + [t for lane in lanes[1:] for t in run.topics(lane).values()]
        P.update(f"creating {len(topics)} topics ({PARTITIONS} partitions) under {prefix}")
        await create_topics(stack.bootstrap, topics, append_time=[
            run.topics(lane)[k] for lane in ("lat", "ptlat", "hplat")
            for k in ("allowed", "review", "invalid")])

        P.update(f"generating {cfg.messages:,} messages over {cfg.debtors:,} debtors")
        from gatekeeper.traffic import BENCH, Traffic

        mix = Traffic(BENCH, cfg.debtors, seed=2026, run=prefix + "sat")
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
        saturating = bool(cfg.phases & {"aiokafka", "faust", "hot", "gatekeeper", "workers2"}
                          ) or cfg.profile
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
        if "hot" in want:
            results["hot_passthrough"] = await phase_hot(run)
        if "gatekeeper" in want:
            results["gatekeeper"] = await phase_gatekeeper(run, mix, debtors)
        if "workers2" in want:
            results["gatekeeper_two_workers"] = await phase_gatekeeper(
                run, mix, debtors, lane="gk2", workers=2 * cfg.workers,
                name="gatekeeper, two workers")
        if "latency" in want:
            apps = cfg.latency_apps
            if "gatekeeper" in apps:
                results["latency"] = await phase_latency(run)
            if "passthrough" in apps:
                results.setdefault("passthrough", {})["latency"] = await phase_latency(
                    run, "passthrough")
            if "hot" in apps:  # the floor: the hot loop's Kafka side through this harness
                results.setdefault("hot_passthrough", {})["latency"] = await phase_latency(
                    run, "hot")
        if "lua" in want:
            try:
                results["lua"] = await phase_lua(run)
            except Exception as exc:  # noqa: BLE001 - it uses gate internals that may move
                P.done(f"lua: failed ({exc!r}); the other figures stand")
                results["lua"] = {"error": repr(exc)}
        if "durability" in want:
            try:
                results["durability"] = await phase_durability(run)
            except Exception as exc:  # noqa: BLE001 - it uses gate internals that may move
                P.done(f"durability: failed ({exc!r}); the other figures stand")
                results["durability"] = {"error": repr(exc)}
        if "cluster" in want:
            try:
                results["cluster"] = await phase_cluster(run)
            except Exception as exc:  # noqa: BLE001 - a missing redis-cli or cluster
                P.done(f"cluster: failed ({exc!r}); the other figures stand")
                results["cluster"] = {"error": repr(exc)}
        if "console" in want:
            results["console_index"] = await phase_console(run)
        if "http" in want:
            results["http"] = await phase_http(run)
        if "backtest" in want:
            results["backtest"] = await phase_backtest(run)
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
    hot = results.get("hot_passthrough", {})
    if gk.get("rps") and hot.get("rps"):
        results["ratio_gatekeeper_to_hot_passthrough"] = round(gk["rps"] / hot["rps"], 3)
    two = results.get("gatekeeper_two_workers", {})
    if gk.get("rps") and two.get("rps"):
        results["ratio_two_workers_to_one"] = round(two["rps"] / gk["rps"], 3)
    cluster = results.get("cluster", {})
    results["ratio_cluster_to_single"] = cluster.get("ratio_cluster_to_single")
    low = (results.get("latency", {}).get("at_other_rates") or [{}])[0].get("latency_ms", {})
    results["redis_roundtrips_per_batch"] = gk.get("redis_round_trips_per_batch")
    results["release_loop_round_trips"] = gk.get("release_loop_round_trips")
    results["redis_bytes_per_debtor"] = gk.get("redis_bytes_per_debtor")
    results["lua_decisions_per_s"] = results.get("lua", {}).get("lua_decisions_per_s")
    results["redis_set_pipeline_per_s"] = results.get("lua", {}).get("redis_set_pipeline_per_s")
    modes = results.get("durability", {}).get("modes") or {}
    if modes:
        results["durability_decisions_per_s"] = {m: v["decisions_per_s"] for m, v in modes.items()}

    def check(value: Any, ok: Callable[[Any], bool]) -> bool | None:
        return None if value is None else ok(value)

    nodes = (cluster.get("cluster") or {}).get("node_pipelines_per_batch")
    http = {"checks_per_second": results.get("http", {}).get("saturation", {}).get(
        "checks_per_second"), "p99_ms": results.get("http", {}).get("latency", {}).get(
        "latency_ms", {}).get("p99")}
    results["targets_met"] = {
        "throughput": check(results.get("ratio_gatekeeper_to_passthrough"), lambda v: v >= 2.0),
        "throughput_aiokafka": check(results.get("ratio_gatekeeper_to_aiokafka"),
                                     lambda v: v >= 0.25),
        "latency": check(latency.get("p99"), lambda v: v <= 25),
        "latency_low": check(low.get("p99"), lambda v: v <= 15),
        "gate_decide": check(results.get("lua", {}).get("gate_decide_per_s"),
                             lambda v: v >= 20_000),
        "roundtrips": check(results["redis_roundtrips_per_batch"], lambda v: v <= 1),
        "memory": check(results["redis_bytes_per_debtor"], lambda v: v <= 300),
        "two_workers": check(results.get("ratio_two_workers_to_one"), lambda v: v >= 1.8),
        "cluster": check(results["ratio_cluster_to_single"],
                         lambda v: v >= 0.9 and nodes is not None and nodes <= 3.0),
        "http_throughput": check(http.get("checks_per_second"), lambda v: v >= 3000),
        "http_latency": check(http.get("p99_ms"), lambda v: v <= 10),
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
    # older revisions: the baseline and the harness's support modules from the work tree
    for support in ("stream/passthrough.py", "traffic.py", "brokers.py", "readiness.py"):
        if not (target / "gatekeeper" / support).exists():
            shutil.copy(ROOT / "gatekeeper" / support, target / "gatekeeper" / support)
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
    parser.add_argument("--latency-apps",
                        help="the apps of the latency phase (gatekeeper,passthrough,hot)")
    parser.add_argument("--wait-idle", type=float,
                        help="before each measured phase, wait up to this many seconds for "
                        "other processes to go quiet (full: 60, quick: 0)")
    parser.add_argument("--workers", type=int, help="processes per app (one consumer group; "
                        "default 1); the profile run always uses one")
    parser.add_argument("--seed", choices=("topic", "direct"), default="topic",
                        help="debtor events for 5%% of the book: produced to the worker's "
                        "debtor.events before it starts (default), or applied to Redis by "
                        "the harness (the worker then learns them by stale answers)")
    parser.add_argument("--phases", help="comma-separated subset of aiokafka,faust,hot,"
                        "gatekeeper,workers2,latency,lua,durability,cluster,console,http,backtest "
                        "(default: all)")
    parser.add_argument("--console-decisions", type=int,
                        help="decisions the console index phase ingests (default 1,000,000; "
                        "quick 100,000)")
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
    if "console_index" in results:  # its own table: ingest and every console query
        console_report(results["console_index"])
    print(f"\nmachine: {results['machine']['cores']} cores, {results['machine']['cpu_model']}, "
          f"{results['machine']['memory']}; " + ", ".join(
              f"{k} {v}" for k, v in results["versions"].items()))
    print(f"results: {paths[0].relative_to(ROOT)} "
          f"({results['total_seconds']:.0f}s)")
    if results.get("http"):
        print("\n" + http_table(results["http"]))
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
