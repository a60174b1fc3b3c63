"""The console's own settings, from ``GATEKEEPER_CONSOLE_*`` (flags may override). The rest
(broker, Redis, policy, topics, keys) is the gatekeeper's ``Settings``: the console releases
through the same gate, so it must see what the workers see."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.env_values import typed as _typed
from gatekeeper.errors import ConfigError

DEFAULT_DIR = ".console"


@dataclass(frozen=True)
class ConsoleSettings:
    directory: Path = Path(DEFAULT_DIR)  # the index and the accounts live here
    retention_days: int = 400  # decisions, events and outcomes older than this leave the index
    host: str = "127.0.0.1"
    port: int = 8088
    secure_cookies: bool = False  # Secure is set anyway on requests that arrive over TLS
    session_minutes: int = 480  # a session ends this long after sign-in
    idle_minutes: int = 60  # ... or this long after its last request
    lockout_failures: int = 5  # failed sign-ins in a row that lock an account
    lockout_minutes: int = 15
    poll_seconds: float = 3.0  # the review queue asks for new blocks this often
    enabled: bool = True  # gatekeeper serve mounts the console under /console/

    @property
    def index_path(self) -> Path:
        return self.directory / "index.sqlite"

    @property
    def accounts_path(self) -> Path:
        return self.directory / "accounts.sqlite"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> ConsoleSettings:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for attr, var, kind in _VARIABLES:
            raw = env.get(var)
            if raw in (None, ""):
                continue
            values[attr] = _typed(var, kind, str(raw))
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "directory" in values:
            values["directory"] = Path(values["directory"])
        settings = cls(**values)
        for attr, var, _ in _VARIABLES:
            value = getattr(settings, attr)
            if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0 \
                    and attr != "port":
                raise ConfigError(var, "a number above 0", str(value))
        return settings


_VARIABLES = (
    ("directory", "GATEKEEPER_CONSOLE_DIR", "path"),
    ("retention_days", "GATEKEEPER_CONSOLE_RETENTION_DAYS", "int"),
    ("host", "GATEKEEPER_CONSOLE_HOST", "str"),
    ("port", "GATEKEEPER_CONSOLE_PORT", "int"),
    ("secure_cookies", "GATEKEEPER_CONSOLE_SECURE_COOKIES", "bool"),
    ("session_minutes", "GATEKEEPER_CONSOLE_SESSION_MINUTES", "int"),
    ("idle_minutes", "GATEKEEPER_CONSOLE_IDLE_MINUTES", "int"),
    ("lockout_failures", "GATEKEEPER_CONSOLE_LOCKOUT_FAILURES", "int"),
    ("lockout_minutes", "GATEKEEPER_CONSOLE_LOCKOUT_MINUTES", "int"),
    ("poll_seconds", "GATEKEEPER_CONSOLE_POLL_SECONDS", "float"),
    ("enabled", "GATEKEEPER_CONSOLE_ENABLED", "bool"),
)
