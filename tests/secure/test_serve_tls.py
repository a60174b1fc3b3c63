"""`gatekeeper serve` over TLS on the secure stack: the `gatekeeper` principal (Kafka SASL_SSL,
Redis TLS) behind an HTTPS listener whose every answer, refusals included, carries HSTS; a
check goes through; plain HTTP to the TLS port gets no answer."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from serve_process import API_PACK, ServeProcess
from worker_process import worker_env

from gatekeeper.http.auth import KeyFile
from gatekeeper.http.tls import HSTS


@pytest.fixture
def server(secure, tmp_path: Path, topic_prefix: str, app_id: str, redis_url: str,
           granted: None):
    policy = tmp_path / "api.yaml"
    policy.write_text(API_PACK)
    keys = KeyFile(tmp_path / "keys")
    key = keys.add("dialer-a")[1]
    env = {**worker_env(secure.broker_url, redis_url, topic_prefix, app_id, policy,
                        "http-test-signing-key", partitions="2",
                        api_keys_dir=str(keys.directory)),
           **secure.kafka_env("gatekeeper"),
           "GATEKEEPER_HTTP_TLS_CERT": str(secure.dir / "tls" / "server.pem"),
           "GATEKEEPER_HTTP_TLS_KEY": str(secure.dir / "tls" / "server.key")}
    process = ServeProcess(tmp_path / "serve.log", env, ca_file=secure.ca_file)
    process.start()
    yield process, key
    process.stop()


def call(url: str, context: ssl.SSLContext | None, *, key: str | None = None,
         body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers={
        "Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})})
    try:
        with urllib.request.urlopen(request, timeout=15, context=context) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_serve_over_tls_answers_with_hsts(server) -> None:
    process, key = server
    assert process.url.startswith("https://")
    status, headers, _ = call(process.url + "/readyz", process.tls)
    assert status == 200 and headers["Strict-Transport-Security"] == HSTS
    status, headers, _ = call(process.url + "/v1/check", process.tls, body=b"{}")
    assert status == 401 and headers["Strict-Transport-Security"] == HSTS
    body = (b'{"request_id": "r-1", "debtor_id": "d-1", "channel": "call", '
            b'"destination": "+12125550100", "requested_at": "'
            + datetime.now(UTC).isoformat().encode() + b'", "debtor": {"timezone": "UTC"}}')
    status, headers, answer = call(process.url + "/v1/check", process.tls, key=key, body=body)
    assert status == 200, answer
    assert b'"allowed"' in answer and headers["Strict-Transport-Security"] == HSTS
    with pytest.raises(OSError):  # plain HTTP to the TLS port: no HTTP answer
        call(process.url.replace("https://", "http://") + "/readyz", None)


async def test_serve_refused_the_events_answers_503_until_it_may_read_them_again(
        server, secure, topic_prefix: str) -> None:
    """READ on debtor.events taken away while serve runs: Kafka still acknowledges events
    (an opt-out from the CRM) that serve cannot read, so a check is not decided from what it
    applied so far (as when Kafka is away): 503, naming the principal and the topic; granted
    again, the same check is blocked by the opt-out."""
    import asyncio

    import kafka_helpers
    import orjson

    from gatekeeper.kafka_acls import TOPIC, Acl, grant, revoke

    process, key = server
    admin = secure.kafka("admin").aiokafka()
    events = f"{topic_prefix}debtor.events"
    read_events = [Acl("User:gatekeeper", TOPIC, events, 3, "READ")]  # 3: literal
    await revoke(secure.bootstrap, read_events, **admin)
    await _until_refused(secure, events)  # (the broker applies an ACL change a moment later)
    opt_out = {"event_id": "e-serve", "debtor_id": "d-9", "type": "opt_out", "channel": "call",
               "occurred_at": datetime.now(UTC).isoformat()}
    await kafka_helpers.produce(secure.bootstrap, events, [(b"d-9", orjson.dumps(opt_out))])
    body = orjson.dumps({"request_id": "r-9", "debtor_id": "d-9", "channel": "call",
                         "destination": "+12125550109",
                         "requested_at": datetime.now(UTC).isoformat(),
                         "debtor": {"timezone": "UTC"}})
    status, headers, answer = await asyncio.to_thread(
        call, process.url + "/v1/check", process.tls, key=key, body=body)
    assert status == 503, answer
    message = orjson.loads(answer)["error"]["message"]
    assert f"Kafka refused User:gatekeeper (SASL_SSL) access to topic {events}" in message
    assert "Retry-After" in headers and "Traceback" not in process.log_text()

    await grant(secure.bootstrap, read_events, **admin)
    for _ in range(60):
        status, _, answer = await asyncio.to_thread(
            call, process.url + "/v1/check", process.tls, key=key, body=body)
        if status != 503:
            break
        await asyncio.sleep(0.5)
    assert status == 409, answer  # blocked: do not place it
    decision = orjson.loads(answer)
    assert decision["decision"] == "blocked"
    assert [r["rule"] for r in decision["reasons"]] == ["api/opt-outs"]
    assert "Traceback" not in process.log_text()


async def _until_refused(secure, topic: str) -> None:
    """Until a fetch of ``topic`` as the `gatekeeper` principal is refused."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import TopicAuthorizationFailedError

    consumer = AIOKafkaConsumer(bootstrap_servers=secure.bootstrap, group_id=None,
                                **secure.kafka("gatekeeper").aiokafka())
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        for _ in range(100):
            try:
                await consumer.getmany(timeout_ms=200)
            except TopicAuthorizationFailedError:
                return
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()
    raise AssertionError(f"READ on {topic} is still allowed to the gatekeeper principal")
