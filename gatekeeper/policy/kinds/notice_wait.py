"""``notice_wait``: no contact until ``days`` local days after a written notice was sent.

A ``notice_sent`` debtor event (``data.notice`` names the notice; ``debt_id`` optional)
starts the wait; the notice's local day (in the primary zone) is day 0 and contact is
allowed again from 00:00 local on day ``days`` (Ontario: 6 days, British Columbia: 5). A
later notice of the same name starts a new wait. A request about a debt is held by notices
about that debt or about every debt; a request naming no debt, by any of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from gatekeeper.localtime import NotBefore, local_date, start_of_day_after
from gatekeeper.model import Reason
from gatekeeper.policy import checks
from gatekeeper.policy.checks import Ctx, Param
from gatekeeper.policy.kinds.base import Kind, Planning, construct, reason
from gatekeeper.policy.model import Params, Rule
from gatekeeper.timeutil import add_days, from_epoch

NOTICE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # as schemas/debtor_event.schema.json


@dataclass(frozen=True, slots=True)
class NoticeWaitParams(Params):
    notice: str  # the name carried in the notice_sent event's data.notice
    days: int


def _notice(ctx: Ctx, path: str, value: Any) -> str:
    if not isinstance(value, str) or not NOTICE.match(value):
        raise ctx.fail(path, "expected a notice name (a-z, 0-9, _, -), as notice_sent events "
                             f"carry it in data.notice, found {checks.found(value)}")
    return value


def wait_until(p: NoticeWaitParams, planning: Planning) -> tuple[date, datetime] | None:
    """The local day the latest covering notice was sent, and the end of its wait."""
    debt_id, zone_name = planning.request.debt_id, planning.primary_zone
    latest: tuple[date, datetime] | None = None
    for key, seconds in planning.state.notices:
        notice, _, debt = key.partition(":")
        if notice != p.notice or (debt_id and debt not in (debt_id, "*")):
            continue
        sent = local_date(from_epoch(seconds), zone_name)
        until = start_of_day_after(sent, p.days, zone_name)
        if latest is None or until > latest[1]:
            latest = (sent, until)
    return latest


def _plan(rule: Rule, p: NoticeWaitParams, planning: Planning) -> Reason | None:
    found = wait_until(p, planning)
    if found is None:
        return None
    sent, until = found
    planning.constrain(rule, NotBefore(until))
    if planning.now >= until:
        return None
    return reason(rule, f"the {p.notice} notice was sent on {sent.isoformat()} (local date); no "
                        f"contact before {_day_after(sent, p.days)}",
                  retry_at=until)


def _day_after(day: date, days: int) -> str:
    later = add_days(day, days)
    return later.isoformat() if later else "the end of the calendar"


KIND: Kind[NoticeWaitParams] = Kind(
    name="notice_wait",
    meaning="none until `days` local days after a `notice_sent` event naming `notice` (the "
            "day it was sent is day 0; contact from 00:00 local on day `days`); a later notice "
            "starts a new wait",
    params={
        "notice": Param(True, _notice, "name"),
        "days": Param(True, checks.positive, "N"),
    },
    build=construct(NoticeWaitParams),
    describe=lambda p: (f"none until {p.days} days after the {p.notice} notice (a notice_sent "
                        f"event): the day it is sent is day 0, contact again from 00:00 local "
                        f"time on day {p.days}; a later notice starts a new wait"),
    plan=_plan,
)
