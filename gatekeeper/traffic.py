"""The one synthetic traffic generator: seeded contact requests and debtor events over a
debtor book. The demo's dialer, the benchmark's mix and the fault suite's traffic are three
``Profile`` values of it (``DEMO``, ``BENCH``, ``fault_profile()``); they differ in shape
only (zones, skew, channel shares, malformed share...), not in code.

- A book of ``debtors`` debtors, each in one of the profile's zones; with ``night_share``,
  that share of them lives in zones where it is night now (21:00-08:00 local), so the
  quiet-hours rules block their calls, texts, emails, visits. ``foreign_phone_share`` of
  them have a number from another zone than their declared one.
- Skewed activity: ``hot_share`` of requests go to the ``hot`` hottest debtors (retry
  storms), ``warm_share`` to the hottest ``1/warm_divisor`` of the book, the rest uniformly.
- Channels in the profile's shares; calls go to the debtor's one number (repeated calls hit
  the per-day limits); ``incomplete_letters`` of letters lack required content,
  ``legal_notices`` of them are legal notices.
- ``message()`` adds ``malformed_share`` malformed messages (bad JSON, wrong types, unknown
  channel, bad timestamp, bad zone) and ``resend_share`` exact re-sends of an earlier request.
- ``event()`` / ``events(share)``: opt-outs, cease, hardship, attorney.

The ``BENCH`` profile draws exactly what benchmarks/mix.py drew (same seed, same bytes), so
benchmark figures stay comparable across revisions. Pure: stdlib and orjson only (the
benchmark copies this file into older revisions it measures).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

import orjson


@dataclass(frozen=True, slots=True)
class Zone:
    region: str | None  # None: the request names no region
    timezone: str  # IANA name
    prefix: str  # phone prefix; numbers map back to the zone
    digits: int  # digits after the prefix


WORLD = (
    Zone("US-NY", "America/New_York", "+1212", 7), Zone("US-IL", "America/Chicago", "+1312", 7),
    Zone("US-CA", "America/Los_Angeles", "+1415", 7), Zone("US-HI", "Pacific/Honolulu", "+1808", 7),
    Zone("CA-ON", "America/Toronto", "+1416", 7), Zone("MX", "America/Mexico_City", "+5255", 8),
    Zone("BR", "America/Sao_Paulo", "+55119", 8), Zone("GB", "Europe/London", "+44207", 7),
    Zone("DE", "Europe/Berlin", "+4930", 8), Zone("FR", "Europe/Paris", "+331", 8),
    Zone("ZA", "Africa/Johannesburg", "+2711", 7), Zone("RU", "Europe/Moscow", "+7495", 7),
    Zone("IN", "Asia/Kolkata", "+9111", 8), Zone("CN", "Asia/Shanghai", "+8610", 8),
    Zone("JP", "Asia/Tokyo", "+813", 8), Zone("AU-NSW", "Australia/Sydney", "+612", 8),
)
CONTENT = {"amount_due": 412.5, "currency": "USD", "due_date": "2026-12-31",
           "payment_options": ["card", "bank transfer"],
           "opt_out_instructions": "Reply STOP or call 0800 000 000"}
MALFORMED = (
    b"{not json",
    b'{"request_id": 42}',
    b"\xff\xfe\xfd",
    orjson.dumps({"request_id": "x", "debtor_id": "D1", "channel": "pigeon",
                  "destination": "roof", "requested_at": "2026-01-01T00:00:00Z"}),
    orjson.dumps({"request_id": "y", "debtor_id": "D1", "channel": "call",
                  "destination": "+12125550100", "requested_at": "yesterday"}),
    orjson.dumps({"request_id": "z", "debtor_id": "D1", "channel": "call",
                  "destination": "+12125550100", "requested_at": "2026-01-01T00:00:00Z",
                  "debtor": {"timezone": "Mars/Olympus"}}),
)
MALFORMED_KEY = b"D-bad"


@dataclass(frozen=True)
class Profile:
    zones: tuple[Zone, ...] = WORLD
    night_share: float | None = 0.2  # None: zones drawn uniformly, night or not
    foreign_phone_share: float = 0.05
    days_past_due: tuple[int, ...] = (15, 45, 95, 200)  # empty: not in the request
    hot: int = 10
    hot_share: float = 0.02
    warm_divisor: int = 100  # the warm set: the hottest max(hot, debtors // warm_divisor)
    warm_share: float = 0.28
    channels: tuple[tuple[str, float], ...] = (
        ("call", 0.50), ("sms", 0.15), ("email", 0.12), ("letter", 0.15), ("visit", 0.08))
    call_destination_kind: str | None = "mobile"
    incomplete_letters: float = 0.2
    legal_notices: float = 0.2
    malformed_share: float = 0.02
    resend_share: float = 0.01
    debtor_id: str = "D{:06d}"
    debts: int = 1  # debts per debtor: "<debtor>-A", "<debtor>-B"...
    source: str | None = "bench-dialer"
    creditor_id: str | None = "C7"
    event_kinds: tuple[str, ...] = ("opt_out", "opt_out", "cease", "hardship",
                                     "attorney_represented")


BENCH = Profile()
DEMO = Profile(
    zones=tuple(z for z in WORLD if z.region in
                ("US-NY", "US-CA", "GB", "CN", "CA-ON", "AU-NSW", "IN", "BR")),
    night_share=None, foreign_phone_share=0.0, hot=5, hot_share=0.0, warm_divisor=4,
    warm_share=0.5, channels=(("call", 0.55), ("sms", 0.15), ("letter", 0.10),
                              ("email", 0.10), ("visit", 0.10)),
    call_destination_kind=None, legal_notices=0.0, resend_share=0.0, debtor_id="D{:05d}",
    source="demo-dialer", creditor_id=None,
    event_kinds=("opt_out", "cease", "hardship", "attorney_represented"))


def zone_at(hour: int, now: datetime | None = None) -> str:
    """A fixed-offset zone where the local hour is about ``hour`` at ``now``."""
    offset = (hour - (now or datetime.now(UTC)).astimezone(UTC).hour + 12) % 24 - 12
    offset = max(-12, min(14, offset))
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}" if offset else "Etc/GMT"


def fault_profile(now: datetime | None = None) -> Profile:
    """The fault suite's traffic: a 13:00 and a 01:00 zone (30 % of debtors at night), three
    very hot debtors (15 % of requests), two debts each, calls, emails and letters only,
    nothing malformed, no re-sends."""
    return Profile(
        zones=(Zone(None, zone_at(13, now), "+44207", 7), Zone(None, zone_at(1, now),
                                                               "+44207", 7)),
        night_share=0.3, foreign_phone_share=0.0, days_past_due=(), hot=3, hot_share=0.15,
        warm_share=0.0, channels=(("call", 0.6), ("email", 0.2), ("letter", 0.2)),
        call_destination_kind=None, legal_notices=0.0, malformed_share=0.0, resend_share=0.0,
        debtor_id="debtor-{}", debts=2, source=None, creditor_id=None)


def night_zones(zones: tuple[Zone, ...], now: datetime) -> set[str]:
    """Zones where it is between 21:00 and 08:00 at ``now``."""
    out = set()
    for zone in zones:
        hour = now.astimezone(ZoneInfo(zone.timezone)).hour
        if hour >= 21 or hour < 8:
            out.add(zone.timezone)
    return out


@dataclass(frozen=True, slots=True)
class Debtor:
    id: str
    region: str | None
    timezone: str
    phone: str
    dpd: int | None


class Traffic:
    """Seeded generator of (key, value) messages over a skewed debtor book."""

    def __init__(self, profile: Profile = BENCH, debtors: int = 100_000, *, seed: int = 2026,
                 run: str = "r", now: datetime | None = None):
        self.profile = p = profile
        self.rng = random.Random(seed)
        self.run = run
        night = night_zones(p.zones, now or datetime.now(UTC))
        day_list = [z for z in p.zones if z.timezone not in night] or list(p.zones)
        night_list = [z for z in p.zones if z.timezone in night] or list(p.zones)
        self.night_zones = sorted(night)
        self.debtors: list[Debtor] = []
        for i in range(debtors):
            if p.night_share is None:
                zone = self.rng.choice(p.zones)
            else:
                zone = self.rng.choice(night_list if self.rng.random() < p.night_share
                                       else day_list)
            phone_zone = (self.rng.choice(p.zones) if p.foreign_phone_share
                          and self.rng.random() < p.foreign_phone_share else zone)
            number = phone_zone.prefix + str(2 * 10 ** (phone_zone.digits - 1)
                                             + (i * 7919) % (7 * 10 ** (phone_zone.digits - 1)))
            dpd = self.rng.choice(p.days_past_due) if p.days_past_due else None
            self.debtors.append(Debtor(p.debtor_id.format(i), zone.region, zone.timezone,
                                       number, dpd))
        self.order = list(range(debtors))
        self.rng.shuffle(self.order)  # who is hot is random, not the lowest ids
        self.hot = self.order[:p.hot]
        self.warm = self.order[: max(p.hot, debtors // p.warm_divisor)]
        self.sequence = 0
        self.event_count = 0
        self.last_request_id: str | None = None
        self.sent: list[bytes] = []  # valid requests, for re-sends
        self._channels = list(zip((c for c, _ in p.channels),
                                  accumulate(share for _, share in p.channels), strict=True))

    def pick(self) -> Debtor:
        roll = self.rng.random()
        if roll < self.profile.hot_share:
            return self.debtors[self.rng.choice(self.hot)]
        if roll < self.profile.hot_share + self.profile.warm_share:
            return self.debtors[self.rng.choice(self.warm)]
        return self.debtors[self.rng.randrange(len(self.debtors))]

    def request(self, now: datetime | None = None) -> tuple[bytes, bytes]:
        """A new valid request: (debtor id, JSON)."""
        p = self.profile
        self.sequence += 1
        debtor = self.pick()
        debt = "-A" if p.debts <= 1 else f"-{chr(65 + self.rng.randrange(p.debts))}"
        body: dict[str, Any] = {
            "request_id": f"{self.run}-{self.sequence}", "debtor_id": debtor.id,
            "requested_at": (now or datetime.now(UTC)).isoformat()}
        if p.source:
            body["source"] = p.source
        body["debt_id"] = debtor.id + debt
        if p.creditor_id:
            body["creditor_id"] = p.creditor_id
        about: dict[str, Any] = {} if debtor.region is None else {"region": debtor.region}
        about["timezone"] = debtor.timezone
        if debtor.dpd is not None:
            about["days_past_due"] = debtor.dpd
        body["debtor"] = about
        roll = self.rng.random()
        channel = next((c for c, bound in self._channels if roll < bound),
                       self._channels[-1][0])
        if channel in ("call", "sms"):
            body.update(channel=channel, destination=debtor.phone)
            if channel == "sms":
                body["content"] = CONTENT
            elif p.call_destination_kind:
                body["destination_kind"] = p.call_destination_kind
        elif channel == "email":
            body.update(channel="email", destination=f"{debtor.id.lower()}@example.com",
                        content=CONTENT)
        elif channel == "letter":
            content = (CONTENT if self.rng.random() < 1 - p.incomplete_letters
                       else {"amount_due": 412.5})
            body.update(channel="letter", destination=f"addr-{debtor.id}", content=content)
            if p.legal_notices and self.rng.random() < p.legal_notices:
                body["purpose"] = "legal_notice"
        else:
            body.update(channel=channel, destination=f"addr-{debtor.id}")
        return debtor.id.encode(), orjson.dumps(body)

    def message(self, now: datetime | None = None) -> tuple[bytes, bytes]:
        """The next message of the stream: a request, a malformed one, or a re-send.
        ``last_request_id`` is the new request's id (None for the other two)."""
        p = self.profile
        roll = self.rng.random()
        self.last_request_id = None
        if roll < p.malformed_share:
            return MALFORMED_KEY, self.rng.choice(MALFORMED)
        if roll < p.malformed_share + p.resend_share and self.sent:
            value = self.rng.choice(self.sent)
            return orjson.loads(value)["debtor_id"].encode(), value
        key, value = self.request(now)
        self.last_request_id = f"{self.run}-{self.sequence}"
        if not p.resend_share:
            return key, value
        if len(self.sent) < 20_000:
            self.sent.append(value)
        elif self.rng.random() < 0.05:
            self.sent[self.rng.randrange(len(self.sent))] = value
        return key, value

    def batch(self, n: int) -> list[tuple[bytes, bytes]]:
        """``n`` valid requests."""
        return [self.request() for _ in range(n)]

    def event(self, debtor: Debtor | None = None, now: datetime | None = None
              ) -> dict[str, Any]:
        """A debtor event (of a random debtor unless one is given)."""
        debtor = debtor or self.rng.choice(self.debtors)
        kind = self.rng.choice(self.profile.event_kinds)
        body: dict[str, Any] = {"event_id": f"{self.run}-ev-{self.event_count}",
                                "debtor_id": debtor.id, "type": kind,
                                "occurred_at": (now or datetime.now(UTC)).isoformat()}
        self.event_count += 1
        if kind == "opt_out":
            body["channel"] = self.rng.choice(("sms", "email", "call"))
        if kind == "hardship":
            body["data"] = {"on": True}
        return body

    def events(self, share: float = 0.05) -> list[dict[str, Any]]:
        """One event each for ``share`` of the book."""
        now = datetime.now(UTC)
        return [self.event(self.debtors[i], now)
                for i in self.rng.sample(range(len(self.debtors)), int(len(self.debtors) * share))]
