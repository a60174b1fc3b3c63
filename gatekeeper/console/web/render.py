"""Templates (Jinja2, autoescaped) and the small formatting filters the pages share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from aiohttp import web

from gatekeeper.console.web.guards import BASE, SESSION
from gatekeeper.timeutil import parse_rfc3339

ENV = jinja2.Environment(loader=jinja2.PackageLoader("gatekeeper.console", "templates"),
                         autoescape=True, trim_blocks=True, lstrip_blocks=True,
                         undefined=jinja2.ChainableUndefined)


def _instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    try:
        return parse_rfc3339(str(value))
    except ValueError:
        return None


def utc(value: Any) -> str:
    """An epoch-ms or RFC 3339 time as ``2026-11-28 17:33:22 UTC`` (empty when none)."""
    moment = _instant(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def local(value: Any, zone: str | None) -> str:
    """The same instant in the debtor's time zone (empty when the zone is unknown)."""
    moment = _instant(value)
    if moment is None or not zone:
        return ""
    try:
        return moment.astimezone(ZoneInfo(zone)).strftime(f"%Y-%m-%d %H:%M %Z ({zone})")
    except (ZoneInfoNotFoundError, ValueError, OverflowError):
        return ""


def thousands(value: int) -> str:
    return f"{value:,}"


ENV.filters.update(utc=utc, local=local, thousands=thousands)


def render(request: web.Request, template: str, *, status: int = 200,
           **context: Any) -> web.Response:
    session: Any = request.get(SESSION)
    text = ENV.get_template(template).render(
        base=request.app[BASE], session=session, csrf=session.csrf if session else "",
        path=request.path, **context)
    return web.Response(text=text, status=status, content_type="text/html")
