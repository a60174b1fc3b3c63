"""The console inside ``gatekeeper serve``: mounted under ``/console/`` (its index consumer,
audit shipping and store run as the sub-application's startup and cleanup, so they live and
stop with the server). ``GATEKEEPER_CONSOLE_ENABLED=false`` serves the API alone."""

from __future__ import annotations

from aiohttp import web

from gatekeeper.console.config import ConsoleSettings
from gatekeeper.console.runtime import Runtime
from gatekeeper.console.web.app import PREFIX, mount_console
from gatekeeper.settings import Settings


def is_console(path: str) -> bool:
    """A request for the console (its own session auth, CSRF and error pages)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def attach_console(app: web.Application, settings: Settings,
                   console: ConsoleSettings | None = None, *,
                   runtime: Runtime | None = None) -> ConsoleSettings | None:
    """Mount the console on ``app`` (and send ``/`` to it), unless it is disabled; its
    settings, or None. A bad ``GATEKEEPER_CONSOLE_*`` value raises ``ConfigError``."""
    console = console or ConsoleSettings.from_env()
    if not console.enabled:
        return None
    mount_console(app, settings, console, runtime=runtime)

    async def home(request: web.Request) -> web.StreamResponse:
        # returned, not raised: serve's guard answers raised HTTP errors as JSON
        return web.Response(status=302, headers={"Location": PREFIX + "/"})

    app.router.add_get("/", home)
    return console
