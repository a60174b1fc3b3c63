"""The console's pages (GET): overview, review queue, decision, debtor, policy, admin."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from gatekeeper.console.debtor_state import read_state
from gatekeeper.console.index import Cursor, QueueFilter
from gatekeeper.console.release import refusal, release_id
from gatekeeper.console.web import charts
from gatekeeper.console.web.guards import (
    BASE,
    RUNTIME,
    SESSION,
    SIGNIN_CSRF_COOKIE,
    cookie_options,
    new_signin_token,
    requires,
)
from gatekeeper.console.web.render import render
from gatekeeper.policy.kinds import KINDS
from gatekeeper.signing import verify

HOUR = 3_600_000
RANGES = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24}
STATUSES = ("open", "acknowledged", "released", "all")
PAGE = 50


async def _run(request: web.Request, function: Any, *args: Any, **kwargs: Any) -> Any:
    """An index query off the event loop (SQLite blocks)."""
    return await asyncio.get_running_loop().run_in_executor(
        None, lambda: function(*args, **kwargs))


def _now_ms() -> int:
    return int(time.time() * 1000)


async def overview(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    chosen = request.query.get("range", "7d")
    hours = RANGES.get(chosen, RANGES["7d"])
    until = _now_ms() + HOUR - _now_ms() % HOUR
    since = until - hours * HOUR
    data = await _run(request, runtime.index.overview, since, until)
    base = request.app[BASE]
    feeder = runtime.feeder
    return render(request, "overview.html", title="Overview", chosen=chosen, ranges=RANGES,
                  data=data, hours_chart=charts.hours_chart(data.hours, since, until),
                  by_rule=charts.bars(data.by_rule, link=f"{base}/review?status=all&rule="),
                  by_channel=charts.bars(data.by_channel,
                                         link=f"{base}/review?status=all&channel="),
                  by_region=charts.bars(data.by_region,
                                        link=f"{base}/review?status=all&region="),
                  feeder=feeder, since=since, until=until)


def _filters(query: Any) -> QueueFilter:
    def text(name: str) -> str | None:
        value = str(query.get(name, "")).strip()
        return value or None

    status = query.get("status", "open")
    return QueueFilter(rule=text("rule"), pack=text("pack"), channel=text("channel"),
                       region=text("region"), debtor=text("debtor"),
                       since=_time(query.get("since")), until=_time(query.get("until")),
                       status=status if status in STATUSES else "open")


def _time(value: str | None) -> int | None:
    """A ``datetime-local`` form value (read as UTC) as epoch ms."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


async def review(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    filters = _filters(request.query)
    before = Cursor.parse(request.query.get("before"))
    page = await _run(request, runtime.index.queue, filters, before=before, limit=PAGE)
    choices = await _run(request, runtime.index.choices)
    query = {k: v for k, v in request.query.items() if k not in ("before",) and v}
    return render(request, "review.html", title="Review queue", page=page, filters=filters,
                  choices=choices, statuses=STATUSES, query=query, before=before,
                  raw=request.query, poll=runtime.console.poll_seconds)


async def review_rows(request: web.Request) -> web.StreamResponse:
    """Rows of blocks indexed after ``after`` (an ingest id), for the queue's poll."""
    runtime = request.app[RUNTIME]
    if request.get(SESSION) is None:
        raise web.HTTPUnauthorized()
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        after = 0
    page = await _run(request, runtime.index.queue_since, _filters(request.query), after)
    response = render(request, "review_rows.html", items=page.items)
    response.headers["X-Newest-Id"] = str(page.newest_id)
    return response


async def decision(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    request_id = request.match_info["request_id"]
    views = await _run(request, runtime.index.decisions, request_id)
    if not views:
        return render(request, "error.html", status=404, title="No such decision",
                      message=f"No decision for request {request_id!r} is in the index (not "
                              "decided yet, older than the retention, or not indexed yet).")
    view = views[-1]
    body = view.body
    request_body = body.get("request") or {}
    profile = await _run(request, runtime.index.debtor_profile, view.debtor_id)
    zone = (request_body.get("debtor") or {}).get("timezone") or profile.get("timezone")
    releases = await _run(request, runtime.index.decisions, release_id(request_id))
    actions = await _run(request, runtime.index.actions, request_id)
    outcomes = await _run(request, runtime.index.outcomes, request_id, view.debtor_id)
    history = sorted(
        [(v.ts, "decision", v) for v in views + releases] +
        [(a["ts"], "action", a) for a in actions] + [(o["ts"], "outcome", o) for o in outcomes],
        key=lambda item: item[0])
    blocked = next((v for v in reversed(views) if v.decision == "blocked"), None)
    why_not = refusal(runtime.policy, blocked.body) if blocked else \
        "only a blocked decision can be released"
    if any(v.decision == "allowed" for v in releases):
        why_not = "released already"
    rules = {r.name: r for pack in runtime.policy.packs for r in pack.rules}
    state = "released" if any(a["action"] == "release" for a in actions) else \
        "acknowledged" if actions else "open"  # from the same read as the history
    released = next((v for v in reversed(releases) if v.decision == "allowed"), None)
    return render(request, "decision.html", title=f"Decision {request_id}", view=view,
                  request_body=request_body, decision=body.get("decision") or {}, zone=zone,
                  history=history, why_not=why_not, rules=rules, state=state,
                  released=released,
                  release_signature=_signature(runtime, released) if released else None,
                  signature=_signature(runtime, view), message=request.query.get("done"),
                  raw_json=orjson.dumps(request_body, option=orjson.OPT_INDENT_2).decode())


def _signature(runtime: Any, view: Any) -> str:
    if view.decision == "blocked":
        return "not signed: a blocked request is not forwarded"
    body = view.body
    signature = body.get("signature")
    if signature and body.get("releases"):
        keys = runtime.settings.signing_keys
        decision = body["decision"]
        payload = orjson.dumps({**body["request"], "request_id": body["releases"]})
        if not keys:
            return f"signed ({signature[:14]}...); no key here to check it"
        ok = verify(keys, signature, body["releases"], decision["decision_id"],
                    decision["policy"], payload)
        return "valid gk-signature (checked with the configured keys)" if ok else \
            "INVALID gk-signature: it does not match the configured keys"
    return ("signed by the worker on contact.allowed over the request's exact bytes "
            "(carriers check it; `gatekeeper verify` checks one by hand)")


async def debtor(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    debtor_id = request.match_info["debtor_id"]
    timeline = await _run(request, runtime.index.timeline, debtor_id, limit=500)
    profile = await _run(request, runtime.index.debtor_profile, debtor_id)
    request_zone = next((zone for item in timeline if item.what == "decision"
                         if (zone := ((item.body.get("request") or {}).get("debtor")
                                      or {}).get("timezone"))), None)
    state = await read_state(runtime.store, debtor_id, runtime.settings.policy, request_zone)
    zone = profile.get("timezone") or request_zone
    return render(request, "debtor.html", title=f"Debtor {debtor_id}", debtor_id=debtor_id,
                  timeline=timeline, zone=zone, state=state)


async def debtor_csv(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    debtor_id = request.match_info["debtor_id"]
    timeline = await _run(request, runtime.index.timeline, debtor_id, limit=100_000)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time_utc", "what", "label", "request_id", "summary", "message"])
    for item in reversed(timeline):
        writer.writerow([_iso(item.ts), item.what, item.label, item.request_id or "",
                         _cell(item.summary), _cell(orjson.dumps(item.body).decode())])
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in debtor_id)
    return web.Response(body=out.getvalue().encode(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="debtor-{safe}-timeline.csv"'})


def _cell(text: str) -> str:
    """No spreadsheet formula injection: a cell never starts with = + - @."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def policy(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    packs = [(pack, [(rule, KINDS[rule.kind].describe(rule.params)) for rule in pack.rules])
             for pack in runtime.policy.packs]
    return render(request, "policy.html", title="Policy", packs=packs,
                  version=runtime.policy.version)


@requires("admin")
async def admin(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    accounts = await _run(request, runtime.accounts.all)
    return render(request, "admin.html", title="Accounts", accounts=accounts,
                  now=time.time(), message=request.query.get("done"),
                  error=request.query.get("error"))


async def signin_form(request: web.Request) -> web.StreamResponse:
    token = new_signin_token()
    response = render(request, "signin.html", title="Sign in", token=token,
                      next=request.query.get("next", ""), error=None)
    response.set_cookie(SIGNIN_CSRF_COOKIE, token, **cookie_options(request))
    return response
