"""The Insights page: ``gatekeeper report``'s figures and charts (``gatekeeper.analytics``),
computed from the console's decision index over a chosen range."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from markupsafe import Markup

from gatekeeper.analytics.page import report_sections
from gatekeeper.analytics.run import report_from_index
from gatekeeper.analytics.sources import TimeRange
from gatekeeper.console.web.guards import RUNTIME
from gatekeeper.console.web.pages import HOUR, RANGES, _now_ms, _run
from gatekeeper.console.web.render import render
from gatekeeper.timebounds import TimeBounds

LIMIT = 50_000  # decisions read per page view, the range's latest (about a second of work)


async def insights(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    chosen = request.query.get("range", "7d")
    hours = RANGES.get(chosen, RANGES["7d"])
    until = _now_ms() + HOUR - _now_ms() % HOUR
    since = until - hours * HOUR
    span = TimeRange(datetime.fromtimestamp(since / 1000, UTC),
                     datetime.fromtimestamp(until / 1000, UTC))
    figures = await _run(request, report_from_index, runtime.index, span, limit=LIMIT,
                         bounds=TimeBounds.from_settings(runtime.settings))
    return render(request, "insights.html", title="Insights", chosen=chosen, ranges=RANGES,
                  since=since, until=until, source=figures["source"], limit=LIMIT,
                  policies=list(figures.get("policies", {})),
                  sections=Markup("".join(report_sections(figures))))  # noqa: S704 - escaped by page.py
