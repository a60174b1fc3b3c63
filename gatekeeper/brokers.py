"""The one parser of broker URLs: GATEKEEPER_BROKER (faust style) to aiokafka's bootstrap list.

Accepted, alone or several separated by ``,`` or ``;`` (faust's separator), each with or
without a ``kafka://`` (or ``aiokafka://``) scheme and with an optional trailing ``/``:

    kafka://127.0.0.1:9092                   -> 127.0.0.1:9092
    kafka://h1:9092;kafka://h2:9092          -> h1:9092,h2:9092
    kafka://h1:9092,h2:9092                  -> h1:9092,h2:9092
    h1:9092, h2                              -> h1:9092,h2        (aiokafka's port: 9092)
    kafka://[::1]:9092                       -> [::1]:9092

Anything else (no host, another scheme, a port that is not a number from 1 to 65535) is a
``BrokerURLError`` whose message names the variable, what was expected and what was found.
"""

from __future__ import annotations

import re

from gatekeeper.errors import GatekeeperError

SCHEMES = ("kafka", "aiokafka")
VARIABLE = "GATEKEEPER_BROKER"
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\s\[\]@]+)(?::(?P<port>[^:/]*))?$")


class BrokerURLError(GatekeeperError, ValueError):
    """A broker URL that names no usable host:port."""


def hosts(url: str, *, variable: str = VARIABLE) -> list[str]:
    """The ``host:port`` (or ``host``) entries of a broker URL, in order, duplicates kept."""
    out: list[str] = []
    for raw in url.replace(";", ",").split(","):
        part = raw.strip()
        if not part:
            continue
        if "://" in part:
            scheme, part = part.split("://", 1)
            if scheme.lower() not in SCHEMES:
                raise BrokerURLError(
                    f"{variable}: expected kafka://host:port (several separated by ',' or "
                    f"';'), found scheme {scheme + '://'!r} in {url!r}")
        part = part.rstrip("/")
        match = _HOST_PORT.match(part)
        if not match:
            raise BrokerURLError(f"{variable}: expected host:port, found {part!r} in {url!r}")
        port = match.group("port")
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise BrokerURLError(f"{variable}: expected a port number from 1 to 65535, found "
                                 f"{port!r} in {url!r}")
        out.append(part)
    if not out:
        raise BrokerURLError(f"{variable}: expected kafka://host:port, found {url!r} "
                             "(no broker in it)")
    return out


def bootstrap(url: str, *, variable: str = VARIABLE) -> str:
    """aiokafka's ``bootstrap_servers`` string for a broker URL: ``h1:9092,h2:9092``."""
    return ",".join(hosts(url, variable=variable))
