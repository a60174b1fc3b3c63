"""The review console's decision index (issue 12): ingest rate and the console's query
latencies, by ``benchmarks/console_index.py`` in a child process of its own (synthetic
record traffic into a fresh SQLite index: no Kafka, no Redis; its CPU time is its own).
Its size is ``--console-decisions`` (1,000,000 in a full run, 100,000 in a quick one); the
traffic is kept in ``results/logs/console_traffic/`` and reused by the next run of that size."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import orjson
from harness import HERE, P, Run


async def phase_console(run: Run) -> dict[str, Any]:
    decisions = run.cfg.console_decisions
    out = run.log_dir / "console_index.json"
    log_path = run.log_dir / "console_index.log"
    P.update(f"console index: ingesting {decisions:,} decisions, then timing the queries "
             f"(log {log_path})")
    load = os.getloadavg()
    with log_path.open("wb") as log:
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "console_index.py"), "--decisions", str(decisions),
            "--repeat", "20" if run.cfg.quick else "50", "--out", str(out),
            "--cache", str(run.log_dir / "console_traffic"),
            stdout=log, stderr=asyncio.subprocess.STDOUT)
        code = await child.wait()
    if code != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"benchmarks/console_index.py exited with {code}:\n{tail}")
    result: dict[str, Any] = orjson.loads(out.read_bytes())
    result["setup"]["load_average_at_start"] = [round(x, 2) for x in load]
    ingest = result["ingest"]
    worst = max(result["queries"].items(), key=lambda kv: kv[1]["p95_ms"])
    P.done(f"console index: {ingest['decisions_per_s']:,} decisions/s "
           f"({ingest['decisions_per_cpu_s']:,} per CPU second); slowest query p95 "
           f"{worst[1]['p95_ms']} ms ({worst[0]})")
    return result


def console_report(result: dict[str, Any]) -> None:
    """The phase's own table (console_index.py's): ingest, then every console query."""
    from console_index import report  # (it imports gatekeeper: only when printing)

    report(result)
