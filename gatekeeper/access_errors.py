"""Refusals by Kafka or Redis (a wrong password, an unknown CA, a missing ACL) in words: which
principal, which topic, group or command, and which setting to look at; never a secret.

``explain(exc)`` turns such an exception into one sentence (None: not a refusal). aiokafka hides
why it could not bootstrap ("Unable to bootstrap from ..."); ``explain`` then opens one
connection itself (``connect_problem``) to find out: the SASL handshake, the certificate, or a
listener that wants another protocol.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

from gatekeeper.kafka_security import KafkaSecurity, kafka_security

SEE = "(README: Security)"


def _kafka_who(security: KafkaSecurity) -> str:
    return f"{security.principal} ({security.protocol})"


async def connect_problem(servers: str, security: KafkaSecurity | None = None,
                          timeout: float = 10.0) -> str | None:
    """Why a connection to the brokers ``host:port,...`` fails, in words; None if one opens."""
    from aiokafka.conn import create_conn

    security = security or kafka_security()
    problem = None
    for server in servers.split(","):
        host, _, port = server.rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(host.strip("[]") or server, int(port or 9092),
                            request_timeout_ms=int(timeout * 1000), **security.aiokafka()),
                timeout)
        except Exception as exc:  # noqa: BLE001 - each kind is put in words below
            problem = _connect_error(exc, server, security)
            continue
        conn.close()
        return None
    return problem


def _connect_error(exc: BaseException, server: str, security: KafkaSecurity) -> str:
    from aiokafka.errors import SaslAuthenticationFailed

    if isinstance(exc, SaslAuthenticationFailed):
        return (f"Kafka at {server} refused the credentials of {security.principal} "
                f"({security.mechanism}): wrong password or unknown user "
                f"(GATEKEEPER_KAFKA_USERNAME, GATEKEEPER_KAFKA_PASSWORD or _FILE) {SEE}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the certificate of Kafka at {server} does not verify against "
                f"{security.ca_file or 'the system CAs'}: {exc.verify_message} "
                f"(GATEKEEPER_KAFKA_CA_FILE) {SEE}")
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing listens at {server} (GATEKEEPER_BROKER, and is the broker up?)"
    if isinstance(exc, (ssl.SSLError, ConnectionError)) or "closed" in str(exc):
        return (f"Kafka at {server} closed the connection of a {security.protocol} client: "
                f"the listener wants another security protocol "
                f"(GATEKEEPER_KAFKA_SECURITY_PROTOCOL, GATEKEEPER_KAFKA_SASL_MECHANISM) {SEE}")
    return f"cannot connect to Kafka at {server} as {_kafka_who(security)}: {exc}"


def unseen_topic_hint() -> str:
    """For a "no topic" message: with an authorizer, a topic the principal may not DESCRIBE
    is left out of its metadata, as if it did not exist."""
    security = kafka_security()
    if security.username is None:
        return ""
    return (f"; or no ACL lets {security.principal} DESCRIBE it (a topic it may not see is "
            f"not listed) {SEE}")


def explain(exc: BaseException, servers: str | None = None) -> str | None:
    """One sentence for a refusal by Kafka or Redis, or None. ``servers`` (host:port,...) lets
    a failed bootstrap be diagnosed with one connection of our own (not from a running loop)."""
    kafka = _explain_kafka(exc, servers)
    return kafka if kafka is not None else _explain_redis(exc)


def _explain_kafka(exc: BaseException, servers: str | None) -> str | None:
    from aiokafka import errors

    security = kafka_security()
    who = _kafka_who(security)
    if isinstance(exc, errors.TopicAuthorizationFailedError):
        topics = ", ".join(sorted(map(str, _names(exc)))) or "a topic"
        return (f"Kafka refused {who} access to topic {topics} (TopicAuthorizationFailed: no "
                f"ACL allows it) {SEE}")
    if isinstance(exc, errors.GroupAuthorizationFailedError):
        groups = ", ".join(sorted(map(str, _names(exc)))) or "its consumer group"
        return (f"Kafka refused {who} the consumer group {groups} (GroupAuthorizationFailed: "
                f"no ACL allows it) {SEE}")
    if isinstance(exc, errors.ClusterAuthorizationFailedError):
        return f"Kafka refused {who} a cluster operation (ClusterAuthorizationFailed) {SEE}"
    if isinstance(exc, errors.KafkaConnectionError) and servers is not None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(connect_problem(servers, security))
    return None


def _names(exc: BaseException) -> list[object]:
    out: list[object] = []
    for arg in exc.args:
        if isinstance(arg, (set, frozenset, list, tuple)):
            out += list(arg)
        elif arg:
            out.append(arg)
    return out


def _explain_redis(exc: BaseException) -> str | None:
    from redis import exceptions

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, exceptions.RedisError):
        cause = cause.__cause__
    if cause is None:
        return None
    user = redis_user()
    if isinstance(cause, exceptions.NoPermissionError):
        return f"Redis refused user {user!r}: {cause} (its ACL does not allow it) {SEE}"
    if isinstance(cause, exceptions.AuthenticationError) or "WRONGPASS" in str(cause):
        return (f"Redis refused the credentials of user {user!r}: {cause} (GATEKEEPER_REDIS, "
                f"GATEKEEPER_REDIS_PASSWORD or _FILE) {SEE}")
    if "CERTIFICATE_VERIFY_FAILED" in str(cause):
        return (f"the certificate of Redis does not verify (GATEKEEPER_REDIS_CA_FILE): "
                f"{cause} {SEE}")
    return None


def redis_user(url: str | None = None) -> str:
    """The ACL user a Redis client logs in as (``default`` when none is named)."""
    import os

    url = url or os.environ.get("GATEKEEPER_REDIS", "")
    try:
        named = urlsplit(url).username
    except ValueError:
        named = None
    return named or os.environ.get("GATEKEEPER_REDIS_USERNAME") or "default"
