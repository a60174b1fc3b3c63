"""What the secure stack refuses, each next to what the same principal may do (so a refusal
is the ACL's, not a broken connection): Kafka's ACLs per principal, anonymous and plaintext
clients, wrong passwords and CAs (in words, by the CLI), the Redis user's forbidden commands,
and a message produced around the gate failing `gatekeeper verify`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from gatekeeper.access_errors import connect_problem, explain
from gatekeeper.kafka_acls import WRITE, acls, grant
from gatekeeper.kafka_security import KafkaSecurity

pytestmark = pytest.mark.usefixtures("granted")


async def send(bootstrap: str, security: KafkaSecurity, topic: str, value: bytes = b"{}",
               headers: list[tuple[str, bytes]] | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10_000,
                                **security.aiokafka())
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"debtor-1", headers=headers)
    finally:
        await producer.stop()


def gatekeeper_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gatekeeper", *args],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=90)


@pytest.mark.parametrize(("user", "allowed", "refused"), [
    ("dialer", "contact.requests", "contact.allowed"),
    ("carrier", "contact.outcomes", "contact.requests"),
    ("crm", "debtor.events", "contact.allowed"),
])
async def test_a_principal_writes_only_its_own_topic(secure, create_topics, topic_prefix: str,
                                                     user: str, allowed: str,
                                                     refused: str) -> None:
    await create_topics(allowed, refused)
    await send(secure.bootstrap, secure.kafka(user), topic_prefix + allowed)
    with pytest.raises(TopicAuthorizationFailedError) as refusal:
        await send(secure.bootstrap, secure.kafka(user), topic_prefix + refused)
    os.environ.update(secure.kafka_env(user))  # explain() names the process's principal
    try:
        message = explain(refusal.value)
    finally:
        os.environ.update(secure.kafka_env("admin"))
        del os.environ["GATEKEEPER_KAFKA_PASSWORD"]
    assert message == (f"Kafka refused User:{user} (SASL_SSL) access to topic "
                       f"{topic_prefix + refused} (TopicAuthorizationFailed: no ACL allows it) "
                       "(README: Security)")


async def test_anonymous_and_plaintext_clients_cannot_connect(secure) -> None:
    plaintext = KafkaSecurity()
    with pytest.raises(KafkaConnectionError):
        await send(secure.bootstrap, plaintext, "contact.requests")
    assert "closed the connection of a PLAINTEXT client" in str(
        await connect_problem(secure.bootstrap, plaintext))
    assert await connect_problem(secure.bootstrap, secure.kafka("dialer")) is None


def test_a_wrong_password_or_an_unknown_ca_is_a_sentence_not_a_traceback(secure) -> None:
    wrong = {**secure.kafka_env("gatekeeper"), "GATEKEEPER_KAFKA_PASSWORD_FILE": "",
             "GATEKEEPER_KAFKA_PASSWORD": "not-the-password"}
    run = gatekeeper_cli("check", env=wrong)
    assert run.returncode == 1
    assert ("Kafka at 127.0.0.1:" in run.stderr and "refused the credentials of "
            "User:gatekeeper (SCRAM-SHA-512): wrong password or unknown user" in run.stderr)
    assert "Traceback" not in run.stderr and "not-the-password" not in run.stderr

    no_ca = {**secure.kafka_env("gatekeeper"), "GATEKEEPER_KAFKA_CA_FILE": ""}
    run = gatekeeper_cli("check", env=no_ca)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "does not verify against the system CAs" in run.stderr


async def test_a_missing_topic_acl_names_the_topic_and_the_principal(
        secure, create_topics, topic_prefix: str) -> None:
    """Kafka leaves a topic a principal may not DESCRIBE out of its metadata (as if missing),
    and refuses the rest with TopicAuthorizationFailed: both are said, with the principal."""
    await create_topics("contact.review", "contact.requests")
    env = {**secure.kafka_env("dialer"), "GATEKEEPER_TOPIC_PREFIX": topic_prefix}
    run = gatekeeper_cli("review", "tail", "--from-beginning", "--limit", "1",
                         "--timeout", "10", env=env)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert (f"no topic '{topic_prefix}contact.review' on" in run.stderr
            and "or no ACL lets User:dialer DESCRIBE it" in run.stderr), run.stderr

    # the dialer may DESCRIBE (and WRITE) contact.requests, not READ it
    env["GATEKEEPER_TOPIC_REVIEW"] = "contact.requests"
    run = gatekeeper_cli("review", "tail", "--from-beginning", "--limit", "1",
                         "--timeout", "10", env=env)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert (f"Kafka refused User:dialer (SASL_SSL) access to topic "
            f"{topic_prefix}contact.requests (TopicAuthorizationFailed" in run.stderr), run.stderr


def test_the_gatekeeper_redis_user_cannot_flush_configure_or_list(secure, redis_url) -> None:
    import redis
    from redis.exceptions import AuthenticationError, NoPermissionError

    client = redis.Redis.from_url(redis_url)
    try:
        client.hset("gk:{debtor-1}:c", "n", 1)  # what the gate does: allowed
        # (DEBUG is refused before the ACL: enable-debug-command is off by default)
        for command in (("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"), ("KEYS", "*")):
            with pytest.raises(NoPermissionError) as refusal:
                client.execute_command(*command)
        with pytest.raises(NoPermissionError):
            client.set("not-a-gatekeeper-key", 1)  # keys outside gk:* are not its own
        assert client.hget("gk:{debtor-1}:c", "n") == b"1"
    finally:
        client.close()
    assert str(explain(refusal.value)).startswith("Redis refused user 'gatekeeper': ")
    anonymous = redis.Redis(host=secure.redis_host, port=secure.redis_port, ssl=True,
                            ssl_ca_certs=secure.ca_file)
    with pytest.raises(AuthenticationError):  # the default user is off
        anonymous.ping()
    anonymous.close()
    plaintext = redis.Redis(host=secure.redis_host, port=secure.redis_port,
                            socket_timeout=3)
    with pytest.raises(redis.ConnectionError):
        plaintext.ping()
    plaintext.close()


async def test_a_message_produced_around_the_gate_fails_verify(
        secure, create_topics, topic_prefix: str, consume, tmp_path: Path) -> None:
    """A misconfigured ACL (the `tester` principal may write contact.allowed) lets a message
    around the gate onto the topic; the carrier's check of gk-signature still refuses it."""
    (allowed,) = await create_topics("contact.allowed")
    await grant(secure.bootstrap, acls(topic_prefix, table={"tester": [(("allowed",), WRITE)]}),
                **secure.kafka("admin").aiokafka())
    body = {"request_id": "req-forged", "debtor_id": "debtor-1", "channel": "call",
            "destination": "+12125550001"}
    headers = [("gk-signature", b"v1=" + b"ab" * 32), ("gk-decision-id", b"dec-forged"),
               ("gk-policy", b"default@1")]
    await send(secure.bootstrap, secure.kafka("tester"), allowed, orjson.dumps(body), headers)

    (record,) = await consume(allowed, 1)
    found = dict(record.headers)
    message = tmp_path / "message.bin"
    message.write_bytes(record.value)
    run = gatekeeper_cli("verify", str(message), "--request-id", "req-forged",
                         "--decision-id", found["gk-decision-id"].decode(),
                         "--policy", found["gk-policy"].decode(),
                         "--signature", found["gk-signature"].decode(),
                         env={"GATEKEEPER_SIGNING_KEY": "the-gatekeepers-key"})
    assert run.returncode == 1 and run.stdout.strip() == "INVALID signature"
