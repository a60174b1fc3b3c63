"""What every handler shares: the runtime key, the cookies, the role guard."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gatekeeper.console.config import ConsoleSettings
from gatekeeper.console.runtime import Runtime

SESSION_COOKIE = "gk_console"
SIGNIN_CSRF_COOKIE = "gk_console_signin"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RUNTIME = web.AppKey("runtime", Runtime)
BASE = web.AppKey("base", str)  # the prefix the console is served under ("/console")
SETTINGS = web.AppKey("console_settings", ConsoleSettings)
SESSION: web.RequestKey[Any] = web.RequestKey("session")  # accounts.Session | None
FORM: web.RequestKey[Any] = web.RequestKey("form")  # the POST form (MultiDictProxy)


def requires(role: str) -> Callable[[Handler], Handler]:
    """A handler for ``role`` and above; anyone below gets 403."""
    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            session: Any = request.get(SESSION)
            if session is None or not session.account.may(role):
                have = session.account.role if session else "none"
                raise web.HTTPForbidden(text=f"This needs the {role} role; your account is a "
                                             f"{have}.")
            return await handler(request)
        guarded.__name__ = handler.__name__
        return guarded
    return wrap


def new_signin_token() -> str:
    return secrets.token_urlsafe(24)


def cookie_options(request: web.Request) -> dict[str, Any]:
    console = request.app[SETTINGS]
    return {"httponly": True, "samesite": "Strict", "path": request.app[BASE] + "/",
            "secure": request.secure or console.secure_cookies}
