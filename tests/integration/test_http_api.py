"""The HTTP API (``gatekeeper serve``) as a real process against real Kafka and Redis: status
codes and bodies, exact counts under concurrency, dry runs, events and outcomes, API keys,
idempotency across HTTP and the stream, and the faults (Redis down, Redis lost and rebuilt,
Kafka away with a bounded audit buffer)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import fastjsonschema
import kafka_helpers
import orjson
import pytest
from serve_process import API_PACK, Client, ServeProcess
from services import skip_or_fail
from worker_process import WorkerProcess, worker_env

from gatekeeper.http.auth import KeyFile
from gatekeeper.paths import SCHEMAS
from gatekeeper.redis_server import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ("contact.requests", "contact.allowed", "contact.review", "contact.invalid",
          "debtor.events", "contact.outcomes", "contact.decisions")
DECISION = fastjsonschema.compile(orjson.loads((SCHEMAS / "decision.schema.json").read_bytes()))


def request(rid: str, debtor: str, number: str = "+12125550100", **extra: Any
            ) -> dict[str, Any]:
    return {"request_id": rid, "debtor_id": debtor, "channel": "call", "destination": number,
            "requested_at": datetime.now(UTC).isoformat(), "debtor": {"timezone": "UTC"},
            **extra}


@pytest.fixture
def keys(tmp_path: Path) -> KeyFile:
    return KeyFile(tmp_path / "keys")


@pytest.fixture
def key(keys: KeyFile) -> str:
    return keys.add("dialer-a")[1]


@pytest.fixture
def env(stack: Any, tmp_path: Path, topic_prefix: str, app_id: str, redis_url: str,
        keys: KeyFile) -> dict[str, str]:
    policy = tmp_path / "api.yaml"
    policy.write_text(API_PACK)
    return worker_env(stack.broker_url, redis_url, topic_prefix, app_id, policy,
                      "http-test-signing-key", partitions="2", api_keys_dir=str(keys.directory))


@pytest.fixture
async def topics(create_topics: Any) -> None:
    await create_topics(*TOPICS, partitions=2)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for server in started:
        server.stop()


def start(servers: list[ServeProcess], tmp_path: Path, env: dict[str, str], **extra: str
          ) -> ServeProcess:
    server = ServeProcess(tmp_path / f"serve-{len(servers)}.log",
                          {**env, **{f"GATEKEEPER_{k.upper()}": v for k, v in extra.items()}})
    servers.append(server)
    return server.start()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def records(bootstrap: str, topic: str, n: int, timeout: float = 30.0
                  ) -> list[dict[str, Any]]:
    found = await kafka_helpers.consume(bootstrap, topic, n, timeout=timeout)
    return [{"value": orjson.loads(r.value), "headers": dict(r.headers or ()), "key": r.key}
            for r in found]


async def test_status_codes_and_bodies_of_the_contract(
        topics: None, servers: list[ServeProcess], tmp_path: Path, env: dict[str, str],
        key: str, session: aiohttp.ClientSession, bootstrap: str, topic_prefix: str) -> None:
    server = start(servers, tmp_path, env)
    api = Client(session, server.url, key)

    first = request("r-1", "d-1")
    status, allowed = await api.check(first)
    assert status == 200 and allowed["decision"] == "allowed" and allowed["reasons"] == []
    DECISION(allowed)
    assert await api.check(first) == (200, allowed)  # the same id: the same decision
    status, blocked = await api.check(request("r-2", "d-1"))
    assert status == 409 and blocked["decision"] == "blocked"
    DECISION(blocked)
    (reason,) = blocked["reasons"]
    assert reason["rule"] == "api/calls-per-day-per-number" and reason["observed"] == 1
    assert blocked["retry_at"] == reason["retry_at"] is not None

    status, body, _ = await api.call("POST", "/v1/check", data=b"{not json")
    assert status == 422 and body["error"]["type"] == "invalid_input"
    assert body["error"]["expected"] == "a UTF-8 JSON object"
    status, body, _ = await api.call("POST", "/v1/check", request("r-3", "d-1", channel="fax"))
    assert status == 422 and body["error"]["field"] == "channel"
    assert "call" in body["error"]["expected"] and body["error"]["found"] == "fax"
    status, body, _ = await api.call("POST", "/v1/check", request("r-1", "d-1",
                                                                   number="+12125550199"))
    assert status == 422 and body["error"]["field"] == "request_id"
    assert "must not be reused" in body["error"]["message"]
    status, body, _ = await api.call("POST", "/v1/check", data=b"{}",
                                     headers={"Content-Type": "text/plain"})
    assert status == 415 and body["error"]["field"] == "Content-Type"
    status, body, _ = await api.call("POST", "/v1/check", data=b"x" * 300_000)
    assert status == 413 and body["error"]["found"] == 300_000
    status, body, _ = await api.call("POST", "/v1/check?dry_run=maybe", first)
    assert status == 422 and body["error"]["field"] == "dry_run"
    for header in ({"Authorization": ""}, {"Authorization": "Bearer gk_00000000_" + "A" * 43}):
        status, body, headers = await api.call("POST", "/v1/check", first, headers=header)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert body["error"]["field"] == "Authorization"
    status, body, _ = await api.call("GET", "/v1/nothing")
    assert status == 404 and body["error"]["type"] == "not_found"

    status, found, _ = await api.call("GET", "/v1/decisions/r-2?debtor_id=d-1")
    assert status == 200 and found == blocked
    status, body, _ = await api.call("GET", "/v1/decisions/r-404?debtor_id=d-1")
    assert status == 404 and body["error"]["field"] == "request_id"
    status, body, _ = await api.call("GET", "/v1/decisions/r-2")
    assert status == 422 and body["error"]["field"] == "debtor_id"
    status, view, _ = await api.call("GET", "/v1/debtors/d-1")
    assert status == 200 and view["known"] and view["decisions_on_record"] == 2
    (counter,) = view["counters"]
    assert counter["rule"] == "api/calls-per-day-per-number" and counter["count"] == 1
    assert re.fullmatch(r"per number \(hashed [0-9a-f]{6}\)", counter["scope"]), counter
    assert "5550100" not in orjson.dumps(view).decode()

    for path in ("/healthz", "/readyz", "/openapi.json", "/schemas/decision.schema.json"):
        status, body, _ = await api.call("GET", path, key="")
        assert status == 200, path
    status, metrics, _ = await api.call("GET", "/metrics", key="")
    assert 'gatekeeper_http_requests_total{route="/v1/check",status="409"} 1.0' in metrics
    assert 'gatekeeper_decisions_total{channel="call",decision="blocked",' \
           'rule="api/calls-per-day-per-number"} 1.0' in metrics

    audit = await records(bootstrap, topic_prefix + "contact.decisions", 3)
    # every answer is on the record, the repeated one too (the same decision again: a rebuild
    # counts it once, and a record lost with a crashed server comes back with the retry)
    assert sorted(r["value"]["request"]["request_id"] for r in audit) == ["r-1", "r-1", "r-2"]
    assert len({r["value"]["decision"]["decision_id"] for r in audit}) == 2
    assert {r["value"]["via"] for r in audit} == {"http"}
    assert {r["value"]["source"] for r in audit} == {"dialer-a"}
    assert all(r["headers"]["gk-record"] and r["key"] == b"d-1" for r in audit)
    review = await records(bootstrap, topic_prefix + "contact.review", 1)
    assert [r["value"]["decision"]["request_id"] for r in review] == ["r-2"]
    assert await kafka_helpers.consume(bootstrap, topic_prefix + "contact.allowed", 1,
                                       timeout=2) == []  # the caller places the contact


@pytest.mark.parametrize("batches", ["1", "2"])  # GATEKEEPER_HTTP_BATCHES
async def test_200_concurrent_checks_for_one_number_allow_exactly_one_call(
        topics: None, servers: list[ServeProcess], tmp_path: Path, env: dict[str, str],
        key: str, session: aiohttp.ClientSession, bootstrap: str, topic_prefix: str,
        batches: str) -> None:
    server = start(servers, tmp_path, env, http_batches=batches)
    api = Client(session, server.url, key)
    answers = await asyncio.gather(*(api.check(request(f"c-{i}", "hot")) for i in range(200)))
    assert Counter(status for status, _ in answers) == {200: 1, 409: 199}
    _, view, _ = await api.call("GET", "/v1/debtors/hot")
    assert [c["count"] for c in view["counters"]] == [1]
    audit = await records(bootstrap, topic_prefix + "contact.decisions", 200)
    assert len({r["value"]["decision"]["request_id"] for r in audit}) == 200
    batches = [line for line in (await api.call("GET", "/metrics", key=""))[1].splitlines()
               if line.startswith("gatekeeper_http_batch_size_count")]
    assert float(batches[0].split()[1]) < 200  # gathered: fewer round trips than checks


async def test_dry_runs_count_nothing_and_record_nothing(
        topics: None, servers: list[ServeProcess], tmp_path: Path, env: dict[str, str],
        key: str, session: aiohttp.ClientSession, bootstrap: str, topic_prefix: str) -> None:
    server = start(servers, tmp_path, env)
    api = Client(session, server.url, key)
    for i in range(3):
        status, preview = await api.check(request(f"p-{i}", "dry"), dry_run="true")
        assert status == 200 and preview["dry_run"] is True and preview["decision"] == "allowed"
    _, view, _ = await api.call("GET", "/v1/debtors/dry")
    assert view["known"] is False and view["counters"] == []
    assert (await api.call("GET", "/v1/decisions/p-0?debtor_id=dry"))[0] == 404
    checked = request("p-0", "dry")
    status, real = await api.check(checked)  # decided now, for the first time
    assert status == 200 and "dry_run" not in real
    status, preview = await api.check(request("p-9", "dry"), dry_run="true")
    assert status == 409 and preview["reasons"][0]["observed"] == 1  # sees the real count
    status, again = await api.check(checked, dry_run="1")
    assert status == 200 and again["decision_id"] == real["decision_id"]  # as recorded
    _, view, _ = await api.call("GET", "/v1/debtors/dry")
    assert [c["count"] for c in view["counters"]] == [1] and view["decisions_on_record"] == 1
    audit = await records(bootstrap, topic_prefix + "contact.decisions", 2, timeout=5)
    assert [r["value"]["request"]["request_id"] for r in audit] == ["p-0"]


@pytest.mark.parametrize("batches", ["1", "2"])  # GATEKEEPER_HTTP_BATCHES
async def test_acknowledged_events_bind_the_next_check_and_outcomes_are_produced(
        topics: None, servers: list[ServeProcess], tmp_path: Path, env: dict[str, str],
        key: str, session: aiohttp.ClientSession, bootstrap: str, topic_prefix: str,
        batches: str) -> None:
    server = start(servers, tmp_path, env, http_batches=batches)
    api = Client(session, server.url, key)
    now = datetime.now(UTC).isoformat()
    status, accepted, _ = await api.call("POST", "/v1/events", {
        "event_id": "e-1", "debtor_id": "opted", "type": "opt_out", "channel": "call",
        "occurred_at": now})
    assert status == 202 and accepted["topic"] == topic_prefix + "debtor.events"
    status, decision = await api.check(request("o-1", "opted"))
    assert status == 409 and decision["reasons"][0]["rule"] == "api/opt-outs"
    # an event produced to Kafka by someone else (a CRM), acknowledged before the check
    for n in range(20):
        debtor = f"ceased-{n}"
        await kafka_helpers.produce(bootstrap, topic_prefix + "debtor.events", [(
            debtor.encode(), orjson.dumps({"event_id": f"e-c{n}", "debtor_id": debtor,
                                           "type": "cease", "occurred_at": now}))])
        status, decision = await api.check(request(f"o-c{n}", debtor))
        assert status == 409 and decision["reasons"][0]["rule"] == "api/cease", n
    status, body, _ = await api.call("POST", "/v1/events", {"event_id": "e-2"})
    assert status == 422 and body["error"]["type"] == "invalid_input"

    assert (await api.check(request("o-2", "called")))[0] == 200
    status, accepted, _ = await api.call("POST", "/v1/outcomes", {
        "request_id": "o-2", "debtor_id": "called", "outcome": "no_answer", "occurred_at": now})
    assert status == 202 and accepted["topic"] == topic_prefix + "contact.outcomes"
    status, body, _ = await api.call("POST", "/v1/outcomes", {
        "request_id": "o-2", "debtor_id": "called", "outcome": "maybe", "occurred_at": now})
    assert status == 422 and body["error"]["field"] == "outcome"
    (outcome,) = await records(bootstrap, topic_prefix + "contact.outcomes", 1)
    assert outcome["value"]["outcome"] == "no_answer" and outcome["key"] == b"called"


async def test_keys_name_the_decision_source_and_a_revoked_key_is_refused(
        topics: None, servers: list[ServeProcess], tmp_path: Path, env: dict[str, str],
        keys: KeyFile, key: str, session: aiohttp.ClientSession, bootstrap: str,
        topic_prefix: str) -> None:
    server = start(servers, tmp_path, env)
    _, other = keys.add("dialer-b")
    api = Client(session, server.url, other)
    assert (await api.check(request("k-1", "k")))[0] == 200
    (audit,) = await records(bootstrap, topic_prefix + "contact.decisions", 1)
    assert audit["value"]["source"] == "dialer-b"
    revoked = subprocess.run([sys.executable, "-m", "gatekeeper", "apikeys", "revoke",
                              "dialer-b"], env={**os.environ, **env}, capture_output=True,
                             text=True, timeout=60)
    assert revoked.returncode == 0, revoked.stderr
    deadline = time.monotonic() + 5
    while True:
        status, body, _ = await api.call("POST", "/v1/check", request("k-2", "k"))
        if status == 401 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert status == 401 and "revoked" in body["error"]["message"]
    assert (await Client(session, server.url, key).check(request("k-2", "k2")))[0] == 200


async def test_one_decision_per_request_id_across_http_and_the_stream(
        topics: None, servers: list[ServeProcess], tmp_path: Path, env: dict[str, str],
        key: str, session: aiohttp.ClientSession, bootstrap: str, topic_prefix: str) -> None:
    worker = WorkerProcess(tmp_path / "worker.log", env).start()
    try:
        server = start(servers, tmp_path, env)
        api = Client(session, server.url, key)
        on_stream = request("s-1", "both", "+12125550101")
        await kafka_helpers.produce(bootstrap, topic_prefix + "contact.requests",
                                    [(b"both", orjson.dumps(on_stream))])
        (forwarded,) = await kafka_helpers.consume(bootstrap, topic_prefix + "contact.allowed",
                                                   1, timeout=60)
        stream_id = dict(forwarded.headers)["gk-decision-id"].decode()
        status, decision = await api.check(on_stream)  # decided on the stream first
        assert status == 200 and decision["decision_id"] == stream_id
        status, found, _ = await api.call("GET", "/v1/decisions/s-1?debtor_id=both")
        assert status == 200 and found["decision_id"] == stream_id

        over_http = request("h-1", "both", "+12125550102")
        status, decision = await api.check(over_http)  # decided over HTTP first
        assert status == 200
        later = request("s-2", "both", "+12125550102")  # the same number, on the stream
        await kafka_helpers.produce(bootstrap, topic_prefix + "contact.requests",
                                    [(b"both", orjson.dumps(over_http)),
                                     (b"both", orjson.dumps(later))])
        allowed = await kafka_helpers.consume(bootstrap, topic_prefix + "contact.allowed", 2,
                                              timeout=60)
        assert [dict(r.headers)["gk-decision-id"].decode() for r in allowed] == [
            stream_id, decision["decision_id"]]
        (reviewed,) = await records(bootstrap, topic_prefix + "contact.review", 1, timeout=60)
        assert reviewed["value"]["decision"]["request_id"] == "s-2"  # one set of counters
        assert reviewed["value"]["decision"]["reasons"][0]["observed"] == 1
    finally:
        worker.stop()


async def test_redis_down_answers_503_and_a_lost_redis_is_rebuilt_with_the_http_counts(
        topics: None, servers: list[ServeProcess], tmp_path: Path, env: dict[str, str],
        key: str, session: aiohttp.ClientSession) -> None:
    with PrivateRedis() as redis_server:
        server = start(servers, tmp_path, {**env, "GATEKEEPER_REDIS": redis_server.url})
        api = Client(session, server.url, key)
        first_request = request("l-1", "lost")
        status, first = await api.check(first_request)
        assert status == 200

        redis_server.stop()
        started = time.monotonic()
        status, body, headers = await api.call("POST", "/v1/check", request("l-2", "lost"))
        assert status == 503 and headers["Retry-After"] == "1"
        assert "Redis" in body["error"]["message"] and time.monotonic() - started < 10
        assert server.readiness()[0] == 503

        redis_server.start()  # empty: no persistence; the run id changed
        statuses = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status, body, headers = await api.call("POST", "/v1/check", request("l-3", "lost"))
            statuses.append(status)
            if status != 503:
                break
            assert int(headers["Retry-After"]) >= 1
            await asyncio.sleep(0.5)
        assert status == 409, (status, body)  # the HTTP count came back from Kafka
        assert body["reasons"][0]["rule"] == "api/calls-per-day-per-number"
        assert 503 in statuses  # held while the store was rebuilt
        assert await api.check(first_request) == (200, first)  # its record, too
        assert "store rebuilt" in server.log_text()


def kafka_pid() -> int:
    pid_file = Path(os.environ.get("GK_STACK_DIR", ROOT / ".stack")) / "kafka" / "kafka.pid"
    if not pid_file.exists():
        skip_or_fail("the broker was not started by scripts/stack: cannot freeze it")
    return int(pid_file.read_text().strip())


async def test_kafka_away_checks_decide_until_the_audit_buffer_is_full_then_deliver(
        topics: None, servers: list[ServeProcess], tmp_path: Path, env: dict[str, str],
        key: str, session: aiohttp.ClientSession, bootstrap: str, topic_prefix: str) -> None:
    server = start(servers, tmp_path, env, http_audit_buffer="4", http_audit_wait="0.5")
    api = Client(session, server.url, key)
    assert (await api.check(request("k-0", "away-0")))[0] == 200
    pid = kafka_pid()
    os.kill(pid, signal.SIGSTOP)  # the broker stops answering (its connections stay open)
    try:
        for n in range(1, 5):
            started = time.monotonic()
            status, decision = await api.check(request(f"k-{n}", f"away-{n}"))
            assert status == 200 and time.monotonic() - started < 5, (n, status, decision)
        status, body, headers = await api.call("POST", "/v1/check", request("k-5", "away-5"))
        assert status == 503 and headers["Retry-After"] == "5"
        assert "audit records" in body["error"]["message"]
        status, held, _ = await api.call("GET", "/v1/decisions/k-3?debtor_id=away-3")
        assert status == 200 and held["request_id"] == "k-3"  # from memory
        ready, checks = server.readiness()
        assert ready == 503 and checks["checks"]["kafka"] != "ok"
        status, body, headers = await api.call("POST", "/v1/events", {
            "event_id": "e", "debtor_id": "away-1", "type": "cease",
            "occurred_at": datetime.now(UTC).isoformat()})
        assert status == 503 and "Retry-After" in headers
    finally:
        os.kill(pid, signal.SIGCONT)
    audit = await records(bootstrap, topic_prefix + "contact.decisions", 5, timeout=60)
    assert sorted(r["value"]["request"]["request_id"] for r in audit) == [
        f"k-{n}" for n in range(5)]  # delivered once Kafka answered, each once
    deadline = time.monotonic() + 30
    while server.readiness()[0] != 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert server.readiness()[0] == 200
    assert (await api.check(request("k-5", "away-5")))[0] == 200
