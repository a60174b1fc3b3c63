"""Secrets from the environment: ``NAME`` itself, or ``NAME_FILE`` naming a file that holds it
(Docker/Kubernetes secrets), so that a secret never has to sit in a compose file. A secret is
returned, never logged; messages name the variable and the file, never the value."""

from __future__ import annotations

import os
from collections.abc import Mapping

from gatekeeper.errors import ConfigError


def secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The value of ``name`` or the contents of the file named by ``name``_FILE (one trailing
    newline stripped); None when neither is set. Both set, or an unreadable or empty file,
    is a ConfigError naming the variable."""
    env = os.environ if env is None else env
    direct = env.get(name) or None
    path = env.get(f"{name}_FILE") or None
    if direct is not None and path is not None:
        raise ConfigError(f"{name} / {name}_FILE", "one of the two", "both set")
    if path is None:
        return direct
    try:
        with open(path, encoding="utf-8") as f:
            value = f.read().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{name}_FILE", "a readable file holding the secret",
                          f"{path} ({exc.strerror or exc})") from None
    if not value:
        raise ConfigError(f"{name}_FILE", "a file holding the secret", f"{path} (empty)")
    return value


def readable_file(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The path in ``name`` (a CA or certificate file), checked to be readable."""
    env = os.environ if env is None else env
    path = env.get(name) or None
    if path is not None and not os.access(path, os.R_OK):
        raise ConfigError(name, "a readable file", path)
    return path
