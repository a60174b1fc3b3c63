"""Redis URLs, checked before anything connects, so that a typo is a message naming the
flag or variable (never a traceback from deep inside the client). Passwords are masked."""

from __future__ import annotations

from urllib.parse import urlsplit

from gatekeeper.errors import ConfigError

EXPECTED = ("a Redis URL: redis://HOST:PORT/DB, rediss://HOST:PORT/DB, unix:///PATH, "
            "redis+cluster://HOST:PORT or rediss+cluster://HOST:PORT (TLS)")
CLUSTER = "redis+cluster://"
TLS_CLUSTER = "rediss+cluster://"


def cluster_url(url: str) -> str | None:
    """For a Redis Cluster URL (``redis+cluster://``, or ``rediss+cluster://`` over TLS), the
    ``redis://`` (``rediss://``) URL of its seed node; None for any other URL."""
    if url.startswith(CLUSTER):
        return "redis://" + url.removeprefix(CLUSTER)
    if url.startswith(TLS_CLUSTER):
        return "rediss://" + url.removeprefix(TLS_CLUSTER)
    return None


def check_redis_url(url: str, name: str) -> str:
    """``url`` when redis-py can use it; else ConfigError naming ``name``."""
    from redis.connection import parse_url

    plain = cluster_url(url) or url
    try:
        parse_url(plain)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
    except ValueError:
        raise ConfigError(name, EXPECTED, masked(url)) from None
    return url


def masked(url: str) -> str:
    """The URL with its password, if any, replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    return url.replace(f":{password}@", ":***@", 1)
