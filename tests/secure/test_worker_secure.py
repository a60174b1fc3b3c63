"""The worker integration test (tests/integration/test_worker.py) again, on the secure stack:
the worker is the `gatekeeper` principal (SASL_SSL, SCRAM-SHA-512, only the ACLs of
gatekeeper/kafka_acls.py) and the Redis ACL user `gatekeeper` over TLS. The tests are the same
functions; only the fixtures below differ. And one of its own: an ACL revoked while the
worker runs holds it (fail closed, said in words) until the ACL is granted again."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_worker import (  # noqa: E402
    KEY,
    LIMIT_PACK,
    produce,
    request,
    test_events_and_outcomes_topics_drive_state,
    test_thousands_of_requests_each_leave_once_within_limits,
    worker,
)
from worker_process import WorkerProcess  # noqa: E402
from worker_process import worker_env as make_env  # noqa: E402

from gatekeeper.kafka_acls import TOPIC, Acl, grant, revoke  # noqa: E402
from gatekeeper.timeutil import format_utc  # noqa: E402

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


async def test_an_events_acl_revoked_while_running_holds_the_requests_until_granted_again(
        worker: WorkerProcess, secure: object, topic_prefix: str, consume: object) -> None:
    """READ on debtor.events taken from the worker's principal while it runs: an opt-out is
    produced, then a request of that debtor. The worker must not decide the request without
    the opt-out: it holds the batch (and faust's own reader), says why in one sentence naming
    the principal and the topic, and keeps running; once READ is granted again it reads the
    opt-out and blocks the request."""
    worker.start()
    admin = secure.kafka("admin").aiokafka()  # type: ignore[attr-defined]
    bootstrap = secure.bootstrap  # type: ignore[attr-defined]
    events = f"{topic_prefix}debtor.events"
    read_events = [Acl("User:gatekeeper", TOPIC, events, 3, "READ")]  # 3: literal
    await revoke(bootstrap, read_events, **admin)
    await _logged(worker, "reading the agents' topics held: Kafka refused User:gatekeeper")
    # (in effect now: the broker applies an ACL change a moment after it is acknowledged)
    opt_out = {"event_id": "e-revoked", "debtor_id": "debtor-7", "type": "opt_out",
               "channel": "call", "occurred_at": format_utc(datetime.now(UTC))}
    await produce(bootstrap, events, [(b"debtor-7", orjson.dumps(opt_out))])
    await produce(bootstrap, f"{topic_prefix}contact.requests",
                  [(b"debtor-7", orjson.dumps(request(1, 7)))])
    decisions = f"{topic_prefix}contact.decisions"
    assert await consume(decisions, 1, timeout=8) == []  # type: ignore[operator]
    await _logged(worker, "requests held: Kafka refused User:gatekeeper")
    log = worker.log_text()
    assert f"access to topic {events} (TopicAuthorizationFailed" in log, worker.log_tail()
    assert "Traceback" not in log and worker.process is not None \
        and worker.process.poll() is None, worker.log_tail()

    await grant(bootstrap, read_events, **admin)
    (record,) = await consume(decisions, 1, timeout=60)  # type: ignore[operator]
    decision = orjson.loads(record.value)["decision"]
    assert decision["request_id"] == "req-1" and decision["decision"] == "blocked"
    assert [r["rule"] for r in decision["reasons"]] == ["caps/opt-outs"]
    assert "Traceback" not in worker.log_text()
    assert "reading the agents' topics resumed" in worker.log_text()


async def _logged(worker: WorkerProcess, text: str, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if text in worker.log_text():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the worker did not log {text!r}:\n{worker.log_tail()}")
