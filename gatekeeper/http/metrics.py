"""Prometheus metrics of the HTTP API (beside the core's ``gatekeeper.metrics``, on the same
registry: ``GET /metrics`` serves both)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from gatekeeper import metrics as core
from gatekeeper.model import Decision

REQUESTS = Counter("gatekeeper_http_requests_total", "HTTP requests by route and status",
                   ["route", "status"])
CHECK_SECONDS = Histogram("gatekeeper_http_check_seconds",
                          "POST /v1/check, from the body read to the answer",
                          buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                   2.5))
BATCH = Histogram("gatekeeper_http_batch_size", "Checks per store round trip",
                  buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500))
AUDIT_HELD = Gauge("gatekeeper_http_audit_held",
                   "Audit records of checks not yet acknowledged by Kafka")
KAFKA_ERRORS = core.KAFKA_ERRORS
REDIS_ERRORS = core.REDIS_ERRORS
EVENTS_CAUGHT_UP = Gauge("gatekeeper_http_events_caught_up",
                         "1 while every acknowledged debtor event is applied before checks; "
                         "0 while Kafka does not answer the catch-up")


_bound: dict[tuple[Any, ...], Any] = {}  # (metric, *labels) -> its child, bound once


def _child(metric: Counter, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once per label values (labels() takes a lock and
    checks its arguments on every call)."""
    key = (metric, *labels)
    child = _bound.get(key)
    if child is None:
        child = _bound[key] = metric.labels(*labels)
    return child


def count_request(route: str, status: int) -> None:
    _child(REQUESTS, route, str(status)).inc()


def count_decision(decision: Decision, channel: str) -> None:
    """The core's decision counter, as the worker counts its decisions."""
    if decision["decision"] == "allowed":
        _child(core.DECISIONS, "allowed", "", "").inc()
        return
    for reason in decision["reasons"]:
        _child(core.DECISIONS, "blocked", reason["rule"], channel).inc()
