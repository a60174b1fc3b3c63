"""Run ``gatekeeper serve``: topics checked, the service started, the routes bound; stop on
SIGTERM or SIGINT, delivering the held audit records first."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from gatekeeper.console.serving import attach_console
from gatekeeper.errors import GatekeeperError
from gatekeeper.http.app import build_app
from gatekeeper.http.auth import KeyCheck, KeyFile
from gatekeeper.http.service import Service
from gatekeeper.http.settings import HttpSettings
from gatekeeper.http.tls import hsts, server_context
from gatekeeper.restore import needed_days
from gatekeeper.settings import Settings
from gatekeeper.stream import collector
from gatekeeper.topics import check_retention, ensure_topics
from gatekeeper.wiring import build_core

log = logging.getLogger("gatekeeper.http")
LISTENING = "gatekeeper serve: listening on"


class StartError(GatekeeperError):
    """gatekeeper serve cannot start (a service it needs does not answer)."""


async def serve(settings: Settings, http: HttpSettings) -> None:
    core = build_core(settings)  # a bad policy fails here, before anything starts
    tls = server_context()  # so does a bad GATEKEEPER_HTTP_TLS_CERT / _KEY
    host, port = http.address()
    try:
        await ensure_topics(settings)
    except Exception as exc:  # noqa: BLE001 - said in one line, not a traceback
        raise StartError(f"Kafka at {settings.broker} does not answer ({type(exc).__name__}: "
                         f"{exc}); gatekeeper serve needs it to start") from None
    await check_retention(settings, needed_days(core.policy.max_window_days,
                                                settings.decision_ttl_days))
    keys = KeyCheck(KeyFile(http.api_keys_dir))
    if not keys.count:
        log.warning("no API key in %s: every /v1/ call gets 401 until one is added with "
                    "gatekeeper apikeys add NAME", keys.keys.path)
    service = Service(settings, http, core)
    app = build_app(service, keys, http.max_body)
    console = attach_console(app, settings)  # the review console under /console/
    await service.start()
    if tls is not None:
        app.middlewares.insert(0, hsts)  # outermost: refusals by the guard get it too
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    try:
        await web.TCPSite(runner, host, port, reuse_address=True, ssl_context=tls).start()
        collector.settle()  # started: what it holds stays; checks allocate (collector.py)
        scheme = "http" if tls is None else "https"
        log.warning("%s %s://%s:%d (policy %s, API keys in %s)", LISTENING, scheme, host, port,
                    core.policy.version, keys.keys.path)
        if console is not None:
            log.warning("review console: %s://%s:%d/console/ (index and accounts in %s)",
                        scheme, host, port, console.directory)
        await stop.wait()
        log.warning("gatekeeper serve: stopping")
    finally:
        await runner.cleanup()
        await service.stop()
