"""Prometheus metrics of the worker."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

DECISIONS = Counter("gatekeeper_decisions_total", "Decisions by result, rule and channel",
                    ["decision", "rule", "channel"])
INVALID = Counter("gatekeeper_invalid_total", "Messages sent to the dead-letter topic",
                  ["source"])
LATENCY = Histogram("gatekeeper_decision_seconds", "Time from batch start to outputs acknowledged",
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
BATCH = Histogram("gatekeeper_batch_size", "Requests per batch",
                  buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000))
REDIS_ERRORS = Counter("gatekeeper_redis_errors_total", "Redis failures (processing paused)")
STORE_READY = Gauge("gatekeeper_store_ready", "1 while the Redis working copy is trusted; "
                    "0 while the gate holds (lost, being rebuilt, not yet verified)")
REBUILDS = Counter("gatekeeper_store_rebuilds_total", "Rebuilds of Redis from the Kafka record")
KAFKA_ERRORS = Counter("gatekeeper_kafka_errors_total", "Produce failures (processing paused)")


def serve(port: int, host: str = "127.0.0.1") -> WSGIServer | None:
    """The Prometheus endpoint on ``host:port`` (port 0: none), served by a daemon thread.
    Loopback by default; a container publishing the port needs 0.0.0.0
    (GATEKEEPER_METRICS_HOST / --bind)."""
    if port <= 0:
        return None
    server, _ = start_http_server(port, addr=host)
    return server

# deferral (gatekeeper/deferral/)
DEFER_PARKED_NOW = Gauge("gatekeeper_deferred_parked", "Requests parked now in the schedules "
                         "of this worker's partitions")
DEFER_PARKED = Counter("gatekeeper_deferred_total", "Requests parked by the stream")
DEFER_RELEASED = Counter("gatekeeper_deferred_released_total",
                         "Parked requests allowed at their time and forwarded")
DEFER_REPARKED = Counter("gatekeeper_deferred_reparked_total",
                         "Parked requests blocked by time again and parked again")
DEFER_EXPIRED = Counter("gatekeeper_deferred_expired_total",
                        "Parked requests sent to review: time would no longer lift the block "
                        "(not_after, horizon, attempts), or something else blocks them")
DEFER_LAG = Histogram("gatekeeper_deferred_release_lag_seconds",
                      "Time from deferred_until to the release's decision",
                      buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300))
