"""The worker integration test (tests/integration/test_worker.py) again, on the secure stack:
the worker is the `gatekeeper` principal (SASL_SSL, SCRAM-SHA-512, only the ACLs of
gatekeeper/kafka_acls.py) and the Redis ACL user `gatekeeper` over TLS. The tests are the same
functions; only the fixtures below differ."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_worker import (  # noqa: E402
    KEY,
    LIMIT_PACK,
    test_events_and_outcomes_topics_drive_state,
    test_thousands_of_requests_each_leave_once_within_limits,
    worker,
)
from worker_process import worker_env as make_env  # noqa: E402

__all__ = ["test_events_and_outcomes_topics_drive_state",
           "test_thousands_of_requests_each_leave_once_within_limits", "worker"]


@pytest.fixture
def worker_env(tmp_path: Path, topic_prefix: str, app_id: str, redis_url: str,
               secure: object, granted: None) -> dict[str, str]:
    policy = tmp_path / "caps.yaml"
    policy.write_text(LIMIT_PACK)
    env = make_env(secure.broker_url, redis_url, topic_prefix, app_id,  # type: ignore[attr-defined]
                   policy, KEY, partitions="2")
    return {**env, **secure.kafka_env("gatekeeper")}  # type: ignore[attr-defined]
