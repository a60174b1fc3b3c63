"""PURE: which blocked decisions are deferred, and until when.

A request with ``on_block: defer`` is parked when every reason that blocks it is one time
lifts (each names a ``retry_at``: quiet hours, calendar and rolling limits, spacing,
cool-downs, a window not yet in force), and the first instant at which all of them pass
(the decision's ``retry_at``) is before the request's ``not_after`` and within the
horizon. Anything else blocked goes to review, as without deferral. It never reads the
clock: ``now`` is passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gatekeeper.model import ContactRequest, Decision
from gatekeeper.timeutil import parse_rfc3339


def deferred_until(request: ContactRequest, decision: Decision, now: datetime,
                   horizon: timedelta) -> datetime | None:
    """When a blocked ``decision`` of ``request`` is to be decided again, or None when it is
    not deferred (allowed, not asked for, or blocked by something time will not fix)."""
    if request.on_block != "defer" or decision["decision"] != "blocked":
        return None
    reasons = decision["reasons"]
    if not reasons or any(r.get("retry_at") is None for r in reasons):
        return None
    if decision["retry_at"] is None:
        return None
    until = parse_rfc3339(decision["retry_at"])
    if request.not_after is not None and until >= request.not_after:
        return None
    if until - now > horizon:
        return None
    return until
