"""PURE: a seeded synthetic history of collection traffic whose outcomes have a known
structure, for the demo, the benchmark and the tests of ``report`` and ``backtest``.

The book: ``debtors`` debtors in six zones (``ZONES``), each with a stage that ages a day
per day (days past due drawn 0-200 at the start) and a **segment** that says how it answers:

- ``callers`` (65 %) answer calls, at hours that depend on their stage (``CALL_CHANCE``):
  at 30-59 days past due mostly 18:00-20:00 local, at 60-89 mostly 09:00-12:00, at 0-29
  evenly through the day, and seldom once 90 or more days past due;
- ``texters`` (20 %) answer texts and never e-mail, and seldom pick up a call;
- ``emailers`` (15 %) answer e-mail, seldom texts or calls.

``conversation_chance`` is that structure, and the tests assert that ``report`` finds it.
The dialer's plan (per debtor and day: a call most days at a random local time between
08:00 and 21:00, sometimes a second one, now and then one in the quiet hours; texts, e-mails,
the odd letter, some without the required content, and visits) is the same for everyone, so
what the report finds comes from the answers, not from the plan. Events: a profile per debtor
every week (zone, region, days past due), and a few opt-outs, cease requests and hardship
flags. A third of the requests carry no ``debtor`` block (the profile must be used).

``respond`` draws the outcome of a placed (allowed) contact. Same seed, same history (the
clock is read only for the default end, today).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from gatekeeper.analytics.dimensions import stage_of
from gatekeeper.localtime import zone
from gatekeeper.traffic import CONTENT, WORLD, Zone

ZONES: tuple[Zone, ...] = tuple(z for z in WORLD if z.region in (
    "US-NY", "US-IL", "US-CA", "GB", "CA-ON", "AU-NSW"))
SEGMENTS: tuple[tuple[str, float], ...] = (("callers", 0.65), ("texters", 0.20),
                                           ("emailers", 0.15))
EVENING = range(18, 20)  # callers at 30-59 days past due answer calls at these local hours
MORNING = range(9, 12)  # callers at 60-89 days past due answer calls at these local hours


def call_chance(stage: str, hour: int) -> float:
    """The chance that a caller answers a call with a conversation, by stage and hour."""
    if stage == "30-59":
        return 0.55 if hour in EVENING else 0.05
    if stage == "60-89":
        return 0.40 if hour in MORNING else 0.06
    if stage == "0-29":
        return 0.20
    return 0.04


# (segment, channel) -> the chance of a conversation, for all but callers' calls
CHANCE: dict[tuple[str, str], float] = {
    ("texters", "call"): 0.03, ("texters", "sms"): 0.50, ("texters", "email"): 0.0,
    ("emailers", "call"): 0.03, ("emailers", "sms"): 0.02, ("emailers", "email"): 0.45,
    ("callers", "sms"): 0.08, ("callers", "email"): 0.05,
}
LETTER_CHANCE, VISIT_CHANCE = 0.03, 0.30


def conversation_chance(segment: str, channel: str, stage: str, hour: int) -> float:
    """The known structure: how likely a placed contact ends in a conversation."""
    if channel == "call" and segment == "callers":
        return call_chance(stage, hour)
    if channel == "letter":
        return LETTER_CHANCE
    if channel == "visit":
        return VISIT_CHANCE
    return CHANCE[(segment, channel)]


@dataclass(frozen=True, slots=True)
class Debtor:
    id: str
    zone: Zone
    phone: str
    dpd_at_start: int
    segment: str

    def dpd(self, day: int) -> int:
        return self.dpd_at_start + day


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the history: a request or an event (``kind``), its time and its body."""

    at: datetime
    kind: str  # request | event
    data: dict[str, Any]


class SyntheticHistory:
    """``days`` days of traffic ending at ``end`` (a date, midnight UTC) over ``debtors``."""

    def __init__(self, debtors: int = 1000, days: int = 30, *, end: date | None = None,
                 seed: int = 16, run: str = "m"):
        self.rng = random.Random(seed)
        self.days = days
        self.run = run
        self.end = end or datetime.now(UTC).date()
        self.start = datetime.combine(self.end - timedelta(days=days), time(0), UTC)
        self.debtors: list[Debtor] = []
        segments = [name for name, _ in SEGMENTS]
        weights = [share for _, share in SEGMENTS]
        for i in range(debtors):
            place = self.rng.choice(ZONES)
            number = place.prefix + str(2 * 10 ** (place.digits - 1)
                                        + (i * 7919) % (7 * 10 ** (place.digits - 1)))
            self.debtors.append(Debtor(f"{run}{i:05d}", place, number,
                                       self.rng.randrange(0, 200),
                                       self.rng.choices(segments, weights)[0]))
        self.by_id = {d.id: d for d in self.debtors}
        self.sequence = 0

    def lines(self) -> list[Line]:
        """Every request and event, in time order."""
        out: list[Line] = []
        for debtor in self.debtors:
            out.extend(self._debtor_lines(debtor))
        out.sort(key=lambda line: (line.at, line.kind != "event", line.data.get(
            "request_id", line.data.get("event_id", ""))))
        return out

    def _debtor_lines(self, debtor: Debtor) -> Iterator[Line]:
        rng, tz = self.rng, zone(debtor.zone.timezone)
        for day in range(self.days):
            local_day = (self.start + timedelta(days=day)).astimezone(tz).date()
            if day % 7 == 0:
                at = self.start + timedelta(days=day)
                yield self._event(debtor, at, "profile", data={
                    "timezone": debtor.zone.timezone, "region": debtor.zone.region,
                    "days_past_due": debtor.dpd(day)})
            plan: list[tuple[str, int, int]] = []  # channel, first and last local hour
            if rng.random() < 0.6:
                plan.append(("call", 8, 21))
                if rng.random() < 0.15:
                    plan.append(("call", 8, 21))
            if rng.random() < 0.03:
                plan.append(("call", 21, 22) if rng.random() < 0.5 else ("call", 7, 8))
            if rng.random() < 0.2:
                plan.append(("sms", 9, 20))
            if rng.random() < 0.2:
                plan.append(("email", 8, 21))
            if rng.random() < 0.03:
                plan.append(("letter", 9, 17))
            if rng.random() < (0.03 if debtor.dpd(day) >= 90 else 0.005):
                plan.append(("visit", 10, 18))
            for channel, first, last in plan:
                minute = rng.randrange(first * 60, last * 60)
                local = datetime.combine(local_day, time(minute // 60, minute % 60,
                                                         rng.randrange(60)), tz)
                at = local.astimezone(UTC)
                if self.start <= at < self.start + timedelta(days=self.days):
                    yield Line(at, "request", self._request(debtor, channel, at, day))
            roll = rng.random()
            if roll < 0.001:
                yield self._event(debtor, self._sometime(day), "opt_out", channel="sms")
            elif roll < 0.0015:
                yield self._event(debtor, self._sometime(day), "cease")
            elif roll < 0.002:
                yield self._event(debtor, self._sometime(day), "hardship", data={"on": True})

    def _sometime(self, day: int) -> datetime:
        return self.start + timedelta(days=day, seconds=self.rng.randrange(86400))

    def _event(self, debtor: Debtor, at: datetime, kind: str, **more: Any) -> Line:
        self.sequence += 1
        body = {"event_id": f"{self.run}-ev{self.sequence}", "debtor_id": debtor.id,
                "type": kind, "occurred_at": stamp(at), **more}
        return Line(at, "event", body)

    def _request(self, debtor: Debtor, channel: str, at: datetime, day: int) -> dict[str, Any]:
        self.sequence += 1
        body: dict[str, Any] = {"request_id": f"{self.run}-{self.sequence}",
                                "debtor_id": debtor.id, "channel": channel,
                                "requested_at": stamp(at), "debt_id": f"{debtor.id}-A",
                                "source": "synthetic-dialer"}
        if self.rng.random() < 2 / 3:
            body["debtor"] = {"region": debtor.zone.region, "timezone": debtor.zone.timezone,
                              "days_past_due": debtor.dpd(day)}
        if channel in ("call", "sms"):
            body["destination"] = debtor.phone
        elif channel == "email":
            body["destination"] = f"{debtor.id.lower()}@example.com"
        else:
            body["destination"] = f"addr-{debtor.id}"
        if channel in ("sms", "email"):
            body["content"] = CONTENT
        elif channel == "letter":
            body["content"] = CONTENT if self.rng.random() < 0.9 else {"amount_due": 412.5}
        return body

    def respond(self, request: dict[str, Any], rng: random.Random | None = None
                ) -> dict[str, Any] | None:
        """The outcome of a placed contact of this book, some seconds to days after it was
        requested (None for another debtor, or when it falls after the history's end)."""
        debtor = self.by_id.get(request["debtor_id"])
        if debtor is None:
            return None
        rng = rng or self.rng
        at = datetime.fromisoformat(request["requested_at"])
        hour = at.astimezone(zone(debtor.zone.timezone)).hour
        stage = stage_of(debtor.dpd((at - self.start).days))
        occurred = at + timedelta(seconds=rng.randrange(*DELAYS[request["channel"]]))
        outcome = draw_outcome(request, debtor.segment, stage, hour, rng, occurred)
        # the history ends at ``end``: later outcomes are not reported yet
        return outcome if occurred < self.start + timedelta(days=self.days) else None


DELAYS = {"call": (30, 300), "sms": (60, 7200), "email": (60, 7200),
          "letter": (86400, 3 * 86400), "visit": (300, 900)}


def segment_of(debtor_id: str) -> str:
    """A stable segment for a debtor of another book (the demo's): by a hash of its id."""
    roll = (zlib.crc32(debtor_id.encode()) % 1000) / 1000
    for name, share in SEGMENTS:
        if roll < share:
            return name
        roll -= share
    return SEGMENTS[-1][0]


def live_outcome(request: dict[str, Any], now: datetime, rng: random.Random
                 ) -> dict[str, Any]:
    """The outcome of a contact placed ``now`` for a debtor of any book (the demo's, a
    test's): its segment from its id, its stage and zone from the request."""
    about = request.get("debtor") or {}
    timezone = about.get("timezone")
    hour = now.astimezone(zone(timezone)).hour if timezone else 12
    return draw_outcome(request, segment_of(request["debtor_id"]),
                        stage_of(about.get("days_past_due")), hour, rng, now)


def draw_outcome(request: dict[str, Any], segment: str, stage: str, hour: int,
                 rng: random.Random, occurred_at: datetime) -> dict[str, Any]:
    """Draw the outcome of a placed contact from the known structure."""
    channel = request["channel"]
    if rng.random() < conversation_chance(segment, channel, stage, hour):
        outcome = "conversation"
    elif channel == "call":
        outcome = rng.choices(("voicemail", "no_answer", "not_connected"), (35, 45, 20))[0]
    elif channel == "visit":
        outcome = "no_answer"
    else:
        outcome = "delivered" if rng.random() < 0.93 else "failed"
    return {"request_id": request["request_id"], "debtor_id": request["debtor_id"],
            "outcome": outcome, "occurred_at": stamp(occurred_at)}


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
