"""``gatekeeper worker``, exactly, plus a few metrics for the benchmark.

The worker's ``Store`` counts its pipelines (``round_trips``) but does not export them. This
launcher registers a Prometheus collector on GATEKEEPER_METRICS_PORT that reads, at scrape
time:

    gatekeeper_bench_redis_round_trips_total         Store.round_trips of every Store
    gatekeeper_bench_node_pipelines_total            Store.node_pipelines (a cluster: one
                                                     per node a pipeline went to)
    gatekeeper_bench_store_runs_total{script=...}    Store.run pipelines by their first
                                                     call's script (decide, apply_state...;
                                                     the deferral schedule's by operation:
                                                     schedule:due, schedule:claim...)
    gatekeeper_bench_store_trips_total{script=...}   round trips of those runs (as
                                                     round_trips counts them)
    gatekeeper_bench_store_node_pipelines_total{script=...}
                                                     their pipelines per node
    gatekeeper_bench_stale_answers_total             decide answers "stale" (re-planned)

The last four wrap ``Store.run`` (a counter per pipeline and a look at each answer's first
element) and the store's two pipeline functions (which add to the script of the run they
serve, found through a context variable): negligible next to a pipeline. Then it runs the
``gatekeeper worker`` command with the same arguments.

    gk_worker.py [gatekeeper worker options...]
"""

from __future__ import annotations

import sys
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily

from gatekeeper.counters import pipeline as pipeline_module
from gatekeeper.counters import store as store_module

_stores: weakref.WeakSet[Any] = weakref.WeakSet()
_runs: Counter[str] = Counter()
_trips: Counter[str] = Counter()
_node_pipelines: Counter[str] = Counter()
_stale = [0]
_script: ContextVar[str] = ContextVar("script", default="other")  # the run being served
_original_init = store_module.Store.__init__
_original_run = store_module.Store.run
_original_single = pipeline_module.single
_original_per_node = pipeline_module.per_node


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    _stores.add(self)


def _label(calls: Sequence[Any]) -> str:
    script = str(calls[0].script)
    return f"schedule:{calls[0].args[0]}" if script == "schedule" and calls[0].args else script


async def _run(self: Any, calls: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
    label = _label(calls) if calls else "other"
    token = _script.set(label)
    try:
        answers = await _original_run(self, calls, *args, **kwargs)
    finally:
        _script.reset(token)
    if calls:
        script = calls[0].script
        _runs[label] += 1
        if script == "decide":
            _stale[0] += sum(1 for a in answers
                             if isinstance(a, list | tuple) and a and a[0] == "stale")
    return answers


async def _single(*args: Any, **kwargs: Any) -> Any:
    _trips[_script.get()] += 1
    _node_pipelines[_script.get()] += 1
    return await _original_single(*args, **kwargs)


async def _per_node(*args: Any, **kwargs: Any) -> Any:
    _trips[_script.get()] += 1
    answers, probes = await _original_per_node(*args, **kwargs)
    _node_pipelines[_script.get()] += len(probes)
    return answers, probes


store_module.Store.__init__ = _init  # type: ignore[method-assign]
store_module.Store.run = _run  # type: ignore[method-assign]
pipeline_module.single = _single
pipeline_module.per_node = _per_node


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
        for name, counts, what in (
                ("gatekeeper_bench_store_trips", _trips, "round trips"),
                ("gatekeeper_bench_store_node_pipelines", _node_pipelines,
                 "pipelines per node")):
            family = CounterMetricFamily(name, f"Store {what} by the script of their run",
                                         labels=["script"])
            for script, count in counts.items():
                family.add_metric([script], count)
            yield family
        stale = CounterMetricFamily("gatekeeper_bench_stale_answers",
                                    "decide answers 'stale' (the request is re-planned)")
        stale.add_metric([], _stale[0])
        yield stale


REGISTRY.register(BenchMetrics())

if __name__ == "__main__":
    from gatekeeper.cli import main

    sys.argv = ["gatekeeper", "worker", *sys.argv[1:]]
    main()
