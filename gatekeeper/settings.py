"""Typed, frozen settings from the environment (flags may override). Secrets are hidden
from ``repr`` and never logged."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Any

from gatekeeper.env_values import typed as _typed
from gatekeeper.errors import ConfigError
from gatekeeper.redis_url import check_redis_url


class Topic(Enum):
    """Every topic of the contract, with its default name; a new topic is one line. The
    code names a topic by its kind (``Topic.REQUESTS.kind == "requests"``)."""

    REQUESTS = "contact.requests"
    ALLOWED = "contact.allowed"
    REVIEW = "contact.review"
    INVALID = "contact.invalid"
    EVENTS = "debtor.events"
    OUTCOMES = "contact.outcomes"
    DECISIONS = "contact.decisions"
    AUDIT = "console.audit"  # the review console's hash chain (kept forever)
    DEFERRED = "contact.deferred"  # deferral: parked requests announced, cancels recorded

    @property
    def kind(self) -> str:
        return self.name.lower()


TOPICS = tuple(topic.kind for topic in Topic)
TOPIC_DEFAULTS = {topic.kind: topic.value for topic in Topic}
DEVELOPMENT_HASH_KEY = "gatekeeper-development-hash-key"
REQUEST_LOOPS = ("aiokafka", "faust")


@dataclass(frozen=True)
class Settings:
    broker: str = "kafka://127.0.0.1:9092"
    redis: str = "redis://127.0.0.1:6379/0"
    policy: str = "default"
    topic_prefix: str = ""
    app_id: str = "gatekeeper"
    signing_key: str | None = field(default=None, repr=False)
    hash_key: str | None = field(default=None, repr=False)
    batch_size: int = 500
    partitions: int = 4
    batch_within: float = 0.01
    metrics_port: int = 9108
    metrics_host: str = "127.0.0.1"
    decision_ttl_days: int = 3
    record_retention_days: int = 1200  # contact.decisions and contact.outcomes (Reg F: 3 years)
    clock_skew_seconds: int = 300
    max_request_age_days: int = 30
    request_loop: str = "aiokafka"  # the request topic's loop: aiokafka, or faust (the old one)
    defer_horizon: int = 7  # deferral: how many days ahead a request may be parked
    defer_max_attempts: int = 5  # deferral: decisions of one parked request, at most
    defer_release_rate: float = 1000.0  # deferral: releases per second per worker
    read_ahead: int = 0  # hot loop: batches read while one is decided (0 or 1, hotloop.py)
    commit_interval: float = 0.25  # hot loop: seconds between offset commits, at least
    topics: dict[str, str] = field(default_factory=lambda: dict(TOPIC_DEFAULTS))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        names = {"broker": "GATEKEEPER_BROKER", "redis": "GATEKEEPER_REDIS",
                 "policy": "GATEKEEPER_POLICY", "topic_prefix": "GATEKEEPER_TOPIC_PREFIX",
                 "app_id": "GATEKEEPER_APP_ID", "signing_key": "GATEKEEPER_SIGNING_KEY",
                 "hash_key": "GATEKEEPER_HASH_KEY", "batch_size": "GATEKEEPER_BATCH_SIZE",
                 "partitions": "GATEKEEPER_PARTITIONS",
                 "batch_within": "GATEKEEPER_BATCH_WITHIN",
                 "metrics_port": "GATEKEEPER_METRICS_PORT",
                 "metrics_host": "GATEKEEPER_METRICS_HOST",
                 "decision_ttl_days": "GATEKEEPER_DECISION_TTL_DAYS",
                 "record_retention_days": "GATEKEEPER_RECORD_RETENTION_DAYS",
                 "clock_skew_seconds": "GATEKEEPER_CLOCK_SKEW_SECONDS",
                 "max_request_age_days": "GATEKEEPER_MAX_REQUEST_AGE_DAYS",
                 "request_loop": "GATEKEEPER_REQUEST_LOOP",
                 "defer_horizon": "GATEKEEPER_DEFER_HORIZON",
                 "defer_max_attempts": "GATEKEEPER_DEFER_MAX_ATTEMPTS",
                 "defer_release_rate": "GATEKEEPER_DEFER_RELEASE_RATE",
                 "read_ahead": "GATEKEEPER_READ_AHEAD",
                 "commit_interval": "GATEKEEPER_COMMIT_INTERVAL"}
        kinds = {f.name: f.type for f in fields(cls)}
        for attr, var in names.items():
            if env.get(var) not in (None, ""):
                values[attr] = _typed(var, str(kinds[attr]), env[var])
        if "redis" in values:
            check_redis_url(values["redis"], "GATEKEEPER_REDIS")
        if values.get("request_loop", "aiokafka") not in REQUEST_LOOPS:
            raise ConfigError("GATEKEEPER_REQUEST_LOOP", " or ".join(REQUEST_LOOPS),
                              values["request_loop"])
        for attr, least in (("defer_horizon", 0), ("defer_max_attempts", 1),
                            ("defer_release_rate", 1), ("commit_interval", 0)):
            if attr in values and values[attr] < least:
                raise ConfigError(names[attr], f"at least {least}", env[names[attr]])
        if values.get("read_ahead", 0) not in (0, 1):
            raise ConfigError("GATEKEEPER_READ_AHEAD", "0 (off) or 1", env["GATEKEEPER_READ_AHEAD"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        topics = {name: settings.topic_prefix + env.get(f"GATEKEEPER_TOPIC_{name.upper()}",
                                                        TOPIC_DEFAULTS[name])
                  for name in TOPICS}
        return replace(settings, topics=topics)

    @property
    def hashing_key(self) -> bytes:
        """Key for hashing phone numbers and addresses in Redis keys: its own setting (never
        the signing key: rotating that must not change a stored name), or a fixed
        development key where none is required (demo, simulate)."""
        return (self.hash_key or DEVELOPMENT_HASH_KEY).encode()

    @property
    def signing_keys(self) -> list[bytes]:
        """Accepted signing keys, newest first (comma-separated for rotation)."""
        if not self.signing_key:
            return []
        return [k.strip().encode() for k in self.signing_key.split(",") if k.strip()]
