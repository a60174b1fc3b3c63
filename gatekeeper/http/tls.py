"""TLS for `gatekeeper serve` (and `gatekeeper console`): a certificate and key file from the
environment, and HSTS on every answer given over TLS.

    GATEKEEPER_HTTP_TLS_CERT   PEM certificate (chain) of the server
    GATEKEEPER_HTTP_TLS_KEY    PEM private key of that certificate

Both or neither: neither serves plain HTTP as before (put TLS in front of it then). With TLS
every answer carries ``Strict-Transport-Security`` and the console's cookies get ``Secure``
(they do on any request that arrives over TLS: console/web/guards.py).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from gatekeeper.errors import ConfigError
from gatekeeper.secret_env import readable_file

CERT, KEY = "GATEKEEPER_HTTP_TLS_CERT", "GATEKEEPER_HTTP_TLS_KEY"
HSTS = "max-age=31536000; includeSubDomains"  # one year


def server_context(env: Mapping[str, str] | None = None) -> ssl.SSLContext | None:
    """The server's TLS context from the two variables; None when neither is set."""
    env = os.environ if env is None else env
    cert, key = readable_file(CERT, env), readable_file(KEY, env)
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        missing, given = (CERT, KEY) if cert is None else (KEY, CERT)
        raise ConfigError(missing, f"a PEM file as well, since {given} is set", "nothing")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"{CERT} / {KEY}", "a PEM certificate and its private key",
                          f"{cert}, {key} ({exc})") from None
    return context


@web.middleware
async def hsts(request: web.Request,
               handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
               ) -> web.StreamResponse:
    """Strict-Transport-Security on every answer over TLS (errors included)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if request.secure:
            exc.headers["Strict-Transport-Security"] = HSTS
        raise
    if request.secure:
        response.headers["Strict-Transport-Security"] = HSTS
    return response


def with_tls(app: web.Application, env: Mapping[str, str] | None = None
             ) -> ssl.SSLContext | None:
    """The TLS context (None: plain HTTP), with HSTS added to ``app`` (before it starts)."""
    context = server_context(env)
    if context is not None:
        app.middlewares.insert(0, hsts)  # outermost: refusals by the guard get it too
    return context
