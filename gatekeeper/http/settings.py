"""Typed, frozen settings of ``gatekeeper serve`` (the core's are ``gatekeeper.settings``).

A bad value names its variable, what was expected and what was found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from gatekeeper.errors import GatekeeperError
from gatekeeper.validate import MAX_MESSAGE_BYTES

VARIABLES = {
    "bind": "GATEKEEPER_HTTP",
    "api_keys_dir": "GATEKEEPER_API_KEYS_DIR",
    "max_body": "GATEKEEPER_HTTP_MAX_BODY",
    "audit_buffer": "GATEKEEPER_HTTP_AUDIT_BUFFER",
    "audit_wait": "GATEKEEPER_HTTP_AUDIT_WAIT",
    "batch_size": "GATEKEEPER_HTTP_BATCH_SIZE",
    "batch_window": "GATEKEEPER_HTTP_BATCH_WINDOW",
    "batches": "GATEKEEPER_HTTP_BATCHES",
}


class HttpSettingsError(GatekeeperError):
    """A setting of the HTTP API that cannot be used."""

    def __init__(self, name: str, expected: str, found: Any):
        super().__init__(f"{name}: expected {expected}, found {found!r}")
        self.name = name
        self.expected = expected
        self.found = found


def default_keys_dir(env: dict[str, str]) -> str:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or "~").expanduser()
                                             / ".config")
    return str(Path(base) / "gatekeeper")


@dataclass(frozen=True)
class HttpSettings:
    bind: str = "127.0.0.1:8080"
    api_keys_dir: str = ""
    max_body: int = MAX_MESSAGE_BYTES  # bytes; larger bodies get 413
    audit_buffer: int = 10_000  # checks whose audit records may wait for Kafka at once
    audit_wait: float = 1.0  # how long a check waits for Kafka's ack of its audit record
    batch_size: int = 500  # checks per store round trip at most
    batch_window: float = 0.0  # seconds a batch waits for more checks (0: one loop turn)
    batches: int = 1  # batches decided at once (2: one starts while another waits)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> HttpSettings:
        env = dict(os.environ if env is None else env)
        kinds = {f.name: str(f.type) for f in fields(cls)}
        values: dict[str, Any] = {"api_keys_dir": default_keys_dir(env)}
        for attr, variable in VARIABLES.items():
            raw = env.get(variable)
            if raw not in (None, ""):
                values[attr] = _typed(variable, kinds[attr], str(raw))
        for attr, value in overrides.items():
            if value is not None:
                values[attr] = value
        settings = cls(**values)
        settings.address()  # a bad GATEKEEPER_HTTP fails here, not when the server binds
        return settings

    def address(self) -> tuple[str, int]:
        """``bind`` as (host, port): ``127.0.0.1:8080``, ``:8080`` (all interfaces),
        ``[::1]:8080``."""
        host, sep, port = self.bind.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise HttpSettingsError(VARIABLES["bind"], "HOST:PORT such as 127.0.0.1:8080",
                                    self.bind)
        return host.strip("[]") or "0.0.0.0", int(port)


def _typed(variable: str, kind: str, raw: str) -> Any:
    if kind == "int":
        if not raw.strip().isdigit() or int(raw) <= 0:
            raise HttpSettingsError(variable, "a whole number above 0", raw)
        return int(raw)
    if kind == "float":
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not value >= 0:  # also refuses nan
            raise HttpSettingsError(variable, "a number of seconds, 0 or more", raw)
        return value
    return raw
