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
