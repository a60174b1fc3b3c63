"""``gatekeeper backtest``'s replay (issue 16) beside the stream figures: a synthetic month
recorded through the gate, its last three weeks replayed with the running policy on a
private redis-server, as ``benchmarks/backtest_bench.py`` does (its functions, run once:
the running policy only). Requests per second of replay, and per second of the replaying
process's CPU (the machine may be shared)."""

from __future__ import annotations

import os
import time
from typing import Any

from harness import P, Run

from phases.common import wait_idle

DEBTORS = {False: 500, True: 150}  # about a minute in the full run (recording included)


async def phase_backtest(run: Run) -> dict[str, Any]:
    import backtest_bench

    debtors = DEBTORS[run.cfg.quick]
    P.update(f"backtest: recording a synthetic month of {debtors:,} debtors")
    started = time.perf_counter()
    history, record, span = await backtest_bench.record_month(debtors, 30, seed=16)
    recorded = time.perf_counter() - started
    await wait_idle(run, "backtest")
    P.update("backtest: replaying it with the running policy")
    result = await backtest_bench.replay(record, ["default"], span)
    result.update(debtors=debtors, days=history.days, messages=len(record),
                  record_seconds=round(recorded, 2), load_average=list(os.getloadavg()),
                  target_requests_per_s=backtest_bench.TARGET)
    P.done(f"backtest: {result['requests_per_second']:,} requests/s of replay "
           f"({result['requests_per_python_cpu_second']:,} per second of Python CPU; "
           f"{result['decided']:,} decided, {result['identical']:,} identical; "
           f"target {backtest_bench.TARGET:,})")
    jobs = max(2, os.cpu_count() or 1)
    await wait_idle(run, "backtest")
    P.update(f"backtest: replaying it again in {jobs} jobs (--jobs {jobs})")
    sharded = await backtest_bench.replay(record, ["default"], span, jobs)
    sharded.update(load_average=list(os.getloadavg()))
    result["jobs"] = {"1": {k: result[k] for k in SHOWN}, str(jobs): sharded}
    P.done(f"backtest --jobs {jobs}: {sharded['requests_per_second']:,} requests/s of replay "
           f"({sharded['requests_per_python_cpu_second']:,} per second of the jobs' CPU; "
           f"{sharded['identical']:,} identical; x"
           f"{sharded['requests_per_second'] / max(result['requests_per_second'], 1):.2f} "
           "of one job)")
    return result


SHOWN = ("requests_per_second", "requests_per_python_cpu_second", "replay_seconds",
         "identical", "decided")
