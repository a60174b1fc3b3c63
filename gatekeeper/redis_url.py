"""Redis URLs, checked before anything connects, so that a typo is a message naming the
flag or variable (never a traceback from deep inside the client). Passwords are masked."""

from __future__ import annotations

from urllib.parse import urlsplit

from gatekeeper.errors import ConfigError

EXPECTED = ("a Redis URL: redis://HOST:PORT/DB, rediss://HOST:PORT/DB, unix:///PATH "
            "or redis+cluster://HOST:PORT")
CLUSTER = "redis+cluster://"


def check_redis_url(url: str, name: str) -> str:
    """``url`` when redis-py can use it; else ConfigError naming ``name``."""
    from redis.connection import parse_url

    plain = "redis://" + url.removeprefix(CLUSTER) if url.startswith(CLUSTER) else url
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
