"""How every Redis client of gatekeeper authenticates, from the environment (the URL itself
may carry the user and password: ``rediss://gatekeeper:secret@host:6380/0``).

    GATEKEEPER_REDIS_PASSWORD[_FILE]   the password when the URL has none (a file: secrets)
    GATEKEEPER_REDIS_USERNAME          the ACL user when the URL names none
    GATEKEEPER_REDIS_CA_FILE           PEM of the CA that signed the server's certificate
                                       (``rediss://`` and ``rediss+cluster://`` only;
                                       default: the system's CAs)

A password in the URL wins over the variables. Nothing set: no options, as before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from gatekeeper.secret_env import readable_file, secret


def redis_options(url: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis.from_url(url, ...)`` (and RedisCluster's)."""
    env = os.environ if env is None else env
    options: dict[str, Any] = {}
    parts = urlsplit(url)
    password = secret("GATEKEEPER_REDIS_PASSWORD", env)
    if password is not None and not parts.password:
        options["password"] = password
    username = env.get("GATEKEEPER_REDIS_USERNAME") or None
    if username is not None and not parts.username:
        options["username"] = username
    ca_file = readable_file("GATEKEEPER_REDIS_CA_FILE", env)
    if ca_file is not None and parts.scheme in ("rediss", "rediss+cluster"):
        options["ssl_ca_certs"] = ca_file
    return options
