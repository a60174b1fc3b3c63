"""``gatekeeper worker``, exactly, plus a few metrics for the benchmark.

The worker's ``Store`` counts its pipelines (``round_trips``) but does not export them. This
launcher registers a Prometheus collector on GATEKEEPER_METRICS_PORT that reads, at scrape
time:

    gatekeeper_bench_redis_round_trips_total         Store.round_trips of every Store
    gatekeeper_bench_node_pipelines_total            Store.node_pipelines (a cluster: one
                                                     per node a pipeline went to)
    gatekeeper_bench_store_runs_total{script=...}    Store.run pipelines by their first
                                                     call's script (decide, apply_state...)
    gatekeeper_bench_stale_answers_total             decide answers "stale" (re-planned)

The last two wrap ``Store.run`` (a counter per pipeline and a look at each answer's first
element): negligible next to a pipeline. Then it runs the ``gatekeeper worker`` command with
the same arguments.

    gk_worker.py [gatekeeper worker options...]
"""

from __future__ import annotations

import sys
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily

from gatekeeper.counters import store as store_module

_stores: weakref.WeakSet[Any] = weakref.WeakSet()
_runs: Counter[str] = Counter()
_stale = [0]
_original_init = store_module.Store.__init__
_original_run = store_module.Store.run


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    _stores.add(self)


async def _run(self: Any, calls: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
    answers = await _original_run(self, calls, *args, **kwargs)
    if calls:
        script = calls[0].script
        _runs[script] += 1
        if script == "decide":
            _stale[0] += sum(1 for a in answers
                             if isinstance(a, list | tuple) and a and a[0] == "stale")
    return answers


store_module.Store.__init__ = _init  # type: ignore[method-assign]
store_module.Store.run = _run  # type: ignore[method-assign]


class BenchMetrics:
    def collect(self) -> Iterator[CounterMetricFamily]:
        trips = CounterMetricFamily("gatekeeper_bench_redis_round_trips",
                                    "Redis pipelines sent by the worker's stores")
        trips.add_metric([], sum(store.round_trips for store in list(_stores)))
        yield trips
        nodes = CounterMetricFamily("gatekeeper_bench_node_pipelines",
                                    "Redis pipelines per node sent by the worker's stores")
        nodes.add_metric([], sum(getattr(store, "node_pipelines", 0) for store in list(_stores)))
        yield nodes
        runs = CounterMetricFamily("gatekeeper_bench_store_runs",
                                   "Store.run pipelines by script", labels=["script"])
        for script, count in _runs.items():
            runs.add_metric([script], count)
        yield runs
        stale = CounterMetricFamily("gatekeeper_bench_stale_answers",
                                    "decide answers 'stale' (the request is re-planned)")
        stale.add_metric([], _stale[0])
        yield stale


REGISTRY.register(BenchMetrics())

if __name__ == "__main__":
    from gatekeeper.cli import main

    sys.argv = ["gatekeeper", "worker", *sys.argv[1:]]
    main()
