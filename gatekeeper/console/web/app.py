"""The console application: ``create_console`` builds it, ``mount_console`` mounts it.

Guards, in order, for every request: security headers on every answer (a strict CSP: no
inline script or style, nothing from another origin); a session (an HttpOnly, SameSite=Strict
cookie, Secure over TLS) or a redirect to the sign-in page; on every POST, the form's CSRF
token (the session's; on the sign-in form, a double-submit cookie); the role each handler
asks for (a viewer gets 403 on any action).
"""

from __future__ import annotations

import hmac
import logging
from importlib import resources

from aiohttp import web

from gatekeeper.console.config import ConsoleSettings
from gatekeeper.console.runtime import Runtime
from gatekeeper.console.web import actions, insights, pages
from gatekeeper.console.web.guards import (
    BASE,
    FORM,
    RUNTIME,
    SESSION,
    SESSION_COOKIE,
    SETTINGS,
    SIGNIN_CSRF_COOKIE,
    Handler,
)
from gatekeeper.console.web.render import render
from gatekeeper.settings import Settings

PREFIX = "/console"
log = logging.getLogger("gatekeeper.console")
PUBLIC = {"signin", "static"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_console(settings: Settings, console: ConsoleSettings | None = None, *,
                   prefix: str = PREFIX, runtime: Runtime | None = None,
                   feed: bool = True) -> web.Application:
    """The console as an aiohttp application, to serve under ``prefix`` (``mount_console``
    mounts it there). Startup opens the index and starts consuming the topics into it
    (``feed``); cleanup stops everything it started."""
    console = console or ConsoleSettings.from_env()
    app = web.Application(middlewares=[_headers, _session, _csrf])
    app[BASE] = prefix.rstrip("/")
    app[SETTINGS] = console
    app[RUNTIME] = runtime or Runtime.build(settings, console, feed=feed)

    async def startup(app: web.Application) -> None:
        await app[RUNTIME].start()

    async def cleanup(app: web.Application) -> None:
        await app[RUNTIME].stop()

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    routes = [
        web.get("/", pages.overview, name="overview"),
        web.get("/review", pages.review, name="review"),
        web.get("/review/rows", pages.review_rows, name="review_rows"),
        web.get("/decisions/{request_id:.+}", pages.decision, name="decision"),
        web.get("/debtors/{debtor_id:.+}/timeline.csv", pages.debtor_csv, name="debtor_csv"),
        web.get("/debtors/{debtor_id:.+}", pages.debtor, name="debtor"),
        web.get("/policy", pages.policy, name="policy"),
        web.get("/insights", insights.insights, name="insights"),
        web.get("/admin", pages.admin, name="admin"),
        web.get("/signin", pages.signin_form, name="signin"),
        web.post("/signin", actions.signin, name="signin_post"),
        web.post("/signout", actions.signout, name="signout"),
        web.post("/actions/release", actions.release, name="release"),
        web.post("/actions/acknowledge", actions.acknowledge, name="acknowledge"),
        web.post("/admin/accounts", actions.account_add, name="account_add"),
        web.post("/admin/accounts/change", actions.account_change, name="account_change"),
    ]
    app.add_routes(routes)
    static = resources.files("gatekeeper.console").joinpath("static")
    app.router.add_static("/static", str(static), name="static")
    return app


def mount_console(app: web.Application, settings: Settings,
                  console: ConsoleSettings | None = None, *,
                  runtime: Runtime | None = None) -> web.Application:
    """Mount the console under ``/console/`` of ``app`` (``gatekeeper serve``'s): one call."""
    sub = create_console(settings, console, runtime=runtime)
    app.add_subapp(PREFIX, sub)
    return sub


def _route_name(request: web.Request) -> str | None:
    route = request.match_info.route
    resource = route.resource
    return resource.name if resource is not None else None


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except Exception as exc:  # noqa: BLE001 - a page, never a traceback
        if not isinstance(exc, web.HTTPException):
            log.exception("console: %s %s failed", request.method, request.path)
            response = render(request, "error.html", status=500, title="Something went wrong",
                              message=f"The console could not show this page "
                                      f"({type(exc).__name__}); the log has the details.")
            _secure(request, response)
            return response
        if exc.status == 403:
            response = render(request, "error.html", status=403, title="Not allowed",
                              message=exc.text or "Your role does not allow this.")
        elif exc.status == 404:
            response = render(request, "error.html", status=404, title="Not found",
                              message=exc.text if exc.text and not exc.text.startswith("404")
                              else "There is no such page in the console.")
        else:  # redirects and the rest: raised on, with the headers
            _secure(request, exc)
            raise
    _secure(request, response)
    return response


def _secure(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if _route_name(request) != "static":
        response.headers["Cache-Control"] = "no-store"


@web.middleware
async def _session(request: web.Request, handler: Handler) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    session = runtime.accounts.session(request.cookies.get(SESSION_COOKIE))
    request[SESSION] = session
    if session is None and _route_name(request) not in PUBLIC and \
            _route_name(request) != "signin_post":
        if _route_name(request) == "review_rows":  # the queue's poll: no page to go to
            raise web.HTTPUnauthorized(text="signed out")
        target = request.app[BASE] + "/signin"
        if request.method == "GET":
            target += "?next=" + _quote(request.path_qs)
        raise web.HTTPSeeOther(target)
    return await handler(request)


@web.middleware
async def _csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every POST carries the CSRF token of its form: the session's, or on the sign-in form
    the one in its double-submit cookie."""
    if request.method != "POST":
        return await handler(request)
    form = await request.post()
    request[FORM] = form
    sent = str(form.get("csrf", ""))
    session = request.get(SESSION)
    expected = session.csrf if session is not None else \
        request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        request[SESSION] = session
        return render(request, "error.html", status=403, title="Form expired",
                      message="This form's security token is missing or out of date (CSRF "
                              "protection). Go back, reload the page and send it again.")
    return await handler(request)


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")
