"""The console's forms (POST): sign-in and sign-out, release and acknowledge, accounts.
Every one has passed the CSRF check (``app._csrf``) before it gets here."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from gatekeeper.console.accounts import AccountError
from gatekeeper.console.runtime import Unavailable
from gatekeeper.console.web.guards import (
    BASE,
    FORM,
    RUNTIME,
    SESSION,
    SESSION_COOKIE,
    SIGNIN_CSRF_COOKIE,
    cookie_options,
    new_signin_token,
    requires,
)
from gatekeeper.console.web.render import render


async def _thread(function: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(
        None, lambda: function(*args, **kwargs))


def _safe_next(request: web.Request, target: str) -> str:
    """Only a path inside the console (never another site)."""
    base = str(request.app[BASE]) + "/"
    if target.startswith(base) and not target.startswith("//") and "\\" not in target:
        return target
    return base


async def signin(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    form = request[FORM]
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    result = await _thread(runtime.accounts.sign_in, name, password,
                           address=request.remote or "")
    runtime.audit_wake.set()
    if result.account is None:
        token = new_signin_token()
        response = render(request, "signin.html", status=401, title="Sign in", token=token,
                          next=str(form.get("next", "")), error=result.problem, name=name)
        response.set_cookie(SIGNIN_CSRF_COOKIE, token, **cookie_options(request))
        return response
    token, _ = await _thread(runtime.accounts.start_session, result.account.name)
    redirect = web.HTTPSeeOther(_safe_next(request, str(form.get("next", ""))))
    options = cookie_options(request)
    redirect.set_cookie(SESSION_COOKIE, token, **options)
    redirect.del_cookie(SIGNIN_CSRF_COOKIE, path=options["path"])
    raise redirect


async def signout(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    session = request[SESSION]
    await _thread(runtime.accounts.end_session, session.token)
    runtime.audit(session.account.name, "sign_out", {})
    redirect = web.HTTPSeeOther(request.app[BASE] + "/signin")
    redirect.del_cookie(SESSION_COOKIE, path=request.app[BASE] + "/")
    raise redirect


def _back(request: web.Request, request_id: str, **query: str) -> web.StreamResponse:
    raise web.HTTPSeeOther(f"{request.app[BASE]}/decisions/{quote(request_id, safe='')}?"
                            + urlencode(query))


async def _blocked(request: web.Request, request_id: str) -> Any:
    runtime = request.app[RUNTIME]
    views = await _thread(runtime.index.decisions, request_id)
    blocked = next((v for v in reversed(views) if v.decision == "blocked"), None)
    if blocked is None:
        raise web.HTTPNotFound(text=f"no blocked decision for request {request_id!r} in the "
                                    "index")
    return blocked


@requires("reviewer")
async def release(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    form = request[FORM]
    request_id = str(form.get("request_id", ""))
    actor = request[SESSION].account.name
    reason = str(form.get("reason", ""))
    blocked = await _blocked(request, request_id)
    try:
        outcome = await runtime.release(blocked.body, actor=actor, reason=reason)
    except (ValueError, Unavailable) as exc:
        return _back(request, request_id, done=f"Not released: {exc}")
    decision = outcome.decision
    runtime.audit(actor, "release", {
        "request_id": request_id, "debtor_id": blocked.debtor_id, "reason": reason.strip(),
        "waived": list(outcome.waived), "result": decision["decision"],
        "decision_id": decision["decision_id"]})
    if decision["decision"] == "allowed":
        text = "Released: forwarded to the carriers, signed, with your name and reason."
    else:
        rules = ", ".join(r["rule"] for r in decision["reasons"])
        text = f"Not released: decided again now, it is still blocked by {rules}."
    return _back(request, request_id, done=text)


@requires("reviewer")
async def acknowledge(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    form = request[FORM]
    request_id = str(form.get("request_id", ""))
    blocked = await _blocked(request, request_id)
    runtime.audit(request[SESSION].account.name, "acknowledge", {
        "request_id": request_id, "debtor_id": blocked.debtor_id,
        "reason": str(form.get("reason", "")).strip()[:500]})
    return _back(request, request_id, done="Acknowledged: marked as seen.")


def _admin_back(request: web.Request, **query: str) -> web.StreamResponse:
    raise web.HTTPSeeOther(f"{request.app[BASE]}/admin?" + urlencode(query))


@requires("admin")
async def account_add(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    form = request[FORM]
    name = str(form.get("name", "")).strip()
    try:
        await _thread(runtime.accounts.add, name, str(form.get("role", "")),
                      str(form.get("password", "")), actor=request[SESSION].account.name)
    except AccountError as exc:
        return _admin_back(request, error=str(exc))
    runtime.audit_wake.set()
    return _admin_back(request, done=f"Account {name} added.")


@requires("admin")
async def account_change(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    form = request[FORM]
    name = str(form.get("name", ""))
    what = str(form.get("what", ""))
    actor = request[SESSION].account.name
    if name == actor and what in ("disable", "role"):
        return _admin_back(request, error="You cannot disable your own account or change "
                                          "your own role: ask another admin.")
    options: dict[str, dict[str, Any]] = {
        "role": {"role": str(form.get("role", ""))}, "disable": {"disabled": True},
        "enable": {"disabled": False}, "unlock": {"unlock": True}}
    changes = options.get(what, {})
    if not changes:
        return _admin_back(request, error=f"what: expected role, disable, enable or unlock, "
                                          f"found {what!r}")
    try:
        await _thread(runtime.accounts.change, name, actor=actor, **changes)
    except AccountError as exc:
        return _admin_back(request, error=str(exc))
    runtime.audit_wake.set()
    return _admin_back(request, done=f"Account {name}: {what} done.")
