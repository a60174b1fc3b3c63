"""The report: versions, machine, and the printed table of a run's results."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

from harness import Stack


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
    met = results.get("targets_met") or {}
    cl = (results.get("cluster") or {}).get("cluster") or {}
    one = (results.get("cluster") or {}).get("single") or {}
    rows += [
        ("aiokafka passthrough", fmt(results.get("aiokafka_passthrough", {}).get("rps"), "/s"),
         "", ""),
        ("faust passthrough", fmt(results.get("passthrough", {}).get("rps"), "/s"), "", ""),
        ("hot-path passthrough (faust app + aiokafka loop)",
         fmt(results.get("hot_passthrough", {}).get("rps"), "/s"), "", ""),
        ("gatekeeper worker (default pack)", fmt(gk.get("rps"), "/s"), "", ""),
        ("gatekeeper / faust passthrough", f"{ratio:.2f}" if ratio is not None else "-",
         ">= 2.0", verdict(None if ratio is None else ratio >= 2.0)),
        ("gatekeeper / aiokafka passthrough", fmt(results.get("ratio_gatekeeper_to_aiokafka")),
         ">= 0.25", verdict(met.get("throughput_aiokafka"))),
        ("gatekeeper / hot-path passthrough",
         fmt(results.get("ratio_gatekeeper_to_hot_passthrough")), "", ""),
        ("two worker processes / one", fmt(results.get("ratio_two_workers_to_one")), ">= 1.8",
         verdict(met.get("two_workers"))),
        ("3-master Redis Cluster / one Redis", fmt(results.get("ratio_cluster_to_single")),
         ">= 0.9", verdict(met.get("cluster"))),
        ("  pipelines per node per batch (cluster / one)",
         f"{fmt(cl.get('node_pipelines_per_batch'))} / "
         f"{fmt(one.get('node_pipelines_per_batch'))}", "<= 3 / 1", ""),
        (f"latency p50 at {fmt(results.get('latency', {}).get('offered_rps'), '/s')}",
         fmt(lat.get("p50"), " ms"), "", ""),
        ("latency p95", fmt(lat.get("p95"), " ms"), "", ""),
        ("latency p99", fmt(lat.get("p99"), " ms"), "<= 25 ms",
         verdict(None if lat.get("p99") is None else lat["p99"] <= 25)),
        *[(f"latency p50 / p99 at {fmt(o['offered_rps'], '/s')}",
           f"{fmt(o['latency_ms']['p50'])} / {fmt(o['latency_ms']['p99'], ' ms')}", "<= 15 ms",
           verdict(met.get("latency_low")))
          for o in results.get("latency", {}).get("at_other_rates", [])],
        *[(f"faust passthrough latency p50 / p99 at {fmt(o['offered_rps'], '/s')}",
           f"{fmt(o['latency_ms']['p50'])} / {fmt(o['latency_ms']['p99'], ' ms')}", "", "")
          for o in ([results.get("passthrough", {}).get("latency", {})]
                    + results.get("passthrough", {}).get("latency", {}).get("at_other_rates", []))
          if o.get("latency_ms")],
        *[(f"hot-path passthrough latency p50 / p99 at {fmt(o['offered_rps'], '/s')}",
           f"{fmt(o['latency_ms']['p50'])} / {fmt(o['latency_ms']['p99'], ' ms')}", "", "")
          for o in ([results.get("hot_passthrough", {}).get("latency", {})]
                    + results.get("hot_passthrough", {}).get("latency", {}).get(
                        "at_other_rates", []))
          if o.get("latency_ms")],
        ("Redis round trips per batch", fmt(results.get("redis_roundtrips_per_batch")), "<= 1",
         verdict(None if results.get("redis_roundtrips_per_batch") is None
                 else results["redis_roundtrips_per_batch"] <= 1)),
        ("  the release loop's, apart (in the whole window)",
         fmt(results.get("release_loop_round_trips")), "", ""),
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
    http = results.get("http") or {}
    if http.get("saturation"):  # gatekeeper serve (issue 11), beside the worker's figures
        sat, lat_http = http["saturation"], http["latency"]["latency_ms"]
        bare = http.get("bare_aiohttp") or {}
        rows += [(f"HTTP API, {sat['clients']} clients (gatekeeper serve, one process)",
                  fmt(sat["checks_per_second"], "/s"), ">= 3,000/s",
                  verdict(met.get("http_throughput"))),
                 ("  server CPU per check (bare aiohttp per answer)",
                  f"{fmt(sat['server_cpu_ms_per_check'], ' ms')} "
                  f"({fmt(bare.get('server_cpu_ms_per_answer'), ' ms')})", "", ""),
                 (f"HTTP API p50 / p99 at {fmt(http['latency']['rate'], '/s')} offered",
                  f"{fmt(lat_http['p50'])} / {fmt(lat_http['p99'], ' ms')}", "<= 10 ms",
                  verdict(met.get("http_latency")))]

    def others(phase: dict[str, Any]) -> str:
        value = (phase.get("cpu_cores") or {}).get("others")
        return "-" if value is None else f"{value:.2f}" + (" (disturbed)" if value > 0.15 else "")

    rows += [("background CPU, cores (aio / faust / hot / gk / gk x2 runs)",
              " / ".join(others(results.get(k, {})) for k in
                         ("aiokafka_passthrough", "passthrough", "hot_passthrough",
                          "gatekeeper", "gatekeeper_two_workers")), "", ""),
             ("background CPU, cores (latency run)",
              others(results.get("latency", {})), "", "")]
    rb = lua.get("redis_benchmark") or {}
    if rb:
        rows += [("decide.lua (redis-benchmark)", fmt(rb.get("decide_per_s"), "/s"), "", ""),
                 ("SET (redis-benchmark)", fmt(rb.get("set_per_s"), "/s"), "", "")]
    if lua.get("gate_decide_per_s"):
        rows.append(("Gate.decide in-process, no Kafka", fmt(lua["gate_decide_per_s"], "/s"),
                     ">= 20,000/s", verdict(met.get("gate_decide"))))
    backtest = results.get("backtest") or {}
    for jobs, replay in (backtest.get("jobs") or {"1": backtest} if backtest else {}).items():
        rows.append((f"backtest replay, {jobs} job{'s' if jobs != '1' else ''} (per CPU second)",
                     f"{fmt(replay['requests_per_second'], '/s')} "
                     f"({fmt(replay['requests_per_python_cpu_second'], '/s')})", ">= 10,000/s",
                     verdict(replay["requests_per_second"] >= 10_000)))
    modes = (results.get("durability") or {}).get("modes") or {}
    if all(m in modes for m in ("no", "everysec", "always")):
        order = ("no", "everysec", "always")
        rows += [("decide.lua: AOF off / everysec / always", "", "", ""),
                 ("  pipelines of 500", " / ".join(fmt(modes[m]["decisions_per_s"], "/s")
                                                   for m in order), "", ""),
                 ("  one call at a time", " / ".join(fmt(modes[m]["single_per_s"], "/s")
                                                     for m in order), "", ""),
                 ("  one call at a time, p99", " / ".join(fmt(modes[m]["single_p99_ms"], " ms")
                                                         for m in order), "", "")]
    widths = [max(len(r[i]) for r in rows + [("metric", "measured", "target", "")])
              for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(("metric", "measured", "target", ""), widths,
                                                    strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
