"""How every Kafka client of gatekeeper authenticates: the one builder of aiokafka's security
options (and faust's ``broker_credentials``), from the environment.

    GATEKEEPER_KAFKA_SECURITY_PROTOCOL   PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL
    GATEKEEPER_KAFKA_SASL_MECHANISM      SCRAM-SHA-512 (default with SASL), SCRAM-SHA-256, PLAIN
    GATEKEEPER_KAFKA_USERNAME            the principal (SASL)
    GATEKEEPER_KAFKA_PASSWORD[_FILE]     its password, or a file holding it (SASL)
    GATEKEEPER_KAFKA_CA_FILE             PEM of the CA that signed the brokers' certificates
                                         (SSL, SASL_SSL; default: the system's CAs)

Nothing set: PLAINTEXT, and the options are empty (every client behaves as before). Every
AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient is built with ``**kafka_options()``
and the faust app with ``**faust_options()``. The password is never logged nor in ``repr``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from gatekeeper.errors import ConfigError
from gatekeeper.secret_env import readable_file, secret

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
PREFIX = "GATEKEEPER_KAFKA_"
VARIABLES = tuple(PREFIX + name for name in (
    "SECURITY_PROTOCOL", "SASL_MECHANISM", "USERNAME", "PASSWORD", "PASSWORD_FILE", "CA_FILE"))


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        env = os.environ if env is None else env
        protocol = (env.get(PREFIX + "SECURITY_PROTOCOL") or "PLAINTEXT").upper()
        if protocol not in PROTOCOLS:
            raise ConfigError(PREFIX + "SECURITY_PROTOCOL", " or ".join(PROTOCOLS), protocol)
        sasl = protocol.startswith("SASL_")
        mechanism = (env.get(PREFIX + "SASL_MECHANISM") or "").upper() or None
        if not sasl:
            return cls(protocol, ca_file=readable_file(PREFIX + "CA_FILE", env))
        mechanism = mechanism or "SCRAM-SHA-512"
        if mechanism not in MECHANISMS:
            raise ConfigError(PREFIX + "SASL_MECHANISM", " or ".join(MECHANISMS), mechanism)
        username = env.get(PREFIX + "USERNAME") or None
        password = secret(PREFIX + "PASSWORD", env)
        if username is None:
            raise ConfigError(PREFIX + "USERNAME", f"a principal's name with {protocol}",
                              "nothing")
        if password is None:
            raise ConfigError(PREFIX + "PASSWORD or " + PREFIX + "PASSWORD_FILE",
                              f"the password of {username!r} with {protocol}", "nothing")
        return cls(protocol, mechanism, username, password,
                   readable_file(PREFIX + "CA_FILE", env))

    @property
    def principal(self) -> str:
        """How the broker names this client in its ACLs (``User:<name>``)."""
        return f"User:{self.username}" if self.username else "User:ANONYMOUS"

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.protocol not in ("SSL", "SASL_SSL"):
            return None
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(PREFIX + "CA_FILE", "a PEM file of CA certificates",
                              f"{self.ca_file} ({exc})") from None

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer/Consumer/AdminClient (empty for PLAINTEXT)."""
        if self.protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": self.protocol,
                                   "ssl_context": self.ssl_context()}
        if self.mechanism:
            options.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password)
        return options

    def faust(self) -> dict[str, Any]:
        """Keyword arguments for ``faust.App`` (empty for PLAINTEXT)."""
        if self.protocol == "PLAINTEXT":
            return {}
        import faust

        context = self.ssl_context()
        if self.mechanism is None:
            return {"broker_credentials": faust.SSLCredentials(context)}
        credentials = faust.SASLCredentials(username=self.username, password=self.password,
                                            ssl_context=context, mechanism=self.mechanism)
        if self.protocol == "SASL_PLAINTEXT":
            credentials.protocol = faust.types.auth.AuthProtocol.SASL_PLAINTEXT
        return {"broker_credentials": credentials}


@lru_cache(maxsize=8)
def _security(items: tuple[tuple[str, str], ...]) -> KafkaSecurity:
    return KafkaSecurity.from_env(dict(items))


def _current() -> KafkaSecurity:
    return _security(tuple((k, os.environ[k]) for k in VARIABLES if k in os.environ))


def kafka_security() -> KafkaSecurity:
    """The process's Kafka security, from the environment (read again when it changes)."""
    return _current()


def kafka_options() -> dict[str, Any]:
    """aiokafka keyword arguments: ``AIOKafkaProducer(..., **kafka_options())``."""
    return _current().aiokafka()


def faust_options() -> dict[str, Any]:
    """faust.App keyword arguments: ``faust.App(id, broker=..., **faust_options())``."""
    return _current().faust()
