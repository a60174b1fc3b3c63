"""The benchmark's request mix: a seeded synthetic dialer over a large, skewed debtor book.

- ``debtors`` debtors (100,000 by default) in 16 time zones around the world; whatever the
  hour the benchmark runs at, ``night_share`` of them (20 %) live in zones where it is night
  now (21:00-08:00 local), so the quiet-hours rule blocks their calls, texts, emails, visits.
  5 % have a phone number from another zone than their declared one (two candidate zones).
- Skewed activity: 2 % of requests go to 10 very hot debtors (retry storms), 28 % to the
  hottest 1 % of the book, 70 % uniformly to everyone.
- Channels: 50 % calls (to the debtor's one number, so repeated calls hit the one-per-day
  limit), 15 % texts, 12 % emails, 15 % letters (20 % of them lacking required content,
  a fifth of the rest legal notices), 8 % field visits; days past due 15/45/95/200.
- 2 % malformed messages (bad JSON, wrong types, unknown channel, bad timestamp, bad zone),
  and 1 % exact re-sends of an earlier request (a dialer retrying: replays).
- Optionally debtor events (opt-outs, cease, hardship, attorney) for 5 % of the book,
  applied before the run so that the state read finds something.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

import orjson

# region, IANA zone, phone prefix, digits after the prefix (numbers map back to the zone)
ZONES = [
    ("US-NY", "America/New_York", "+1212", 7), ("US-IL", "America/Chicago", "+1312", 7),
    ("US-CA", "America/Los_Angeles", "+1415", 7), ("US-HI", "Pacific/Honolulu", "+1808", 7),
    ("CA-ON", "America/Toronto", "+1416", 7), ("MX", "America/Mexico_City", "+5255", 8),
    ("BR", "America/Sao_Paulo", "+55119", 8), ("GB", "Europe/London", "+44207", 7),
    ("DE", "Europe/Berlin", "+4930", 8), ("FR", "Europe/Paris", "+331", 8),
    ("ZA", "Africa/Johannesburg", "+2711", 7), ("RU", "Europe/Moscow", "+7495", 7),
    ("IN", "Asia/Kolkata", "+9111", 8), ("CN", "Asia/Shanghai", "+8610", 8),
    ("JP", "Asia/Tokyo", "+813", 8), ("AU-NSW", "Australia/Sydney", "+612", 8),
]
CONTENT = {"amount_due": 412.5, "currency": "USD", "due_date": "2026-12-31",
           "payment_options": ["card", "bank transfer"],
           "opt_out_instructions": "Reply STOP or call 0800 000 000"}
MALFORMED = [
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
]


def night_zones(now: datetime) -> set[str]:
    """Zones where it is between 21:00 and 08:00 at ``now``."""
    out = set()
    for _, name, _, _ in ZONES:
        hour = now.astimezone(ZoneInfo(name)).hour
        if hour >= 21 or hour < 8:
            out.add(name)
    return out


@dataclass(frozen=True, slots=True)
class Debtor:
    id: str
    region: str
    timezone: str
    phone: str
    dpd: int


class Mix:
    """Seeded generator of request messages (key, value) over a skewed debtor book."""

    def __init__(self, debtors: int = 100_000, *, seed: int = 2026, run: str = "r",
                 night_share: float = 0.2, now: datetime | None = None):
        self.rng = random.Random(seed)
        self.run = run
        now = now or datetime.now(UTC)
        night = night_zones(now)
        day_zones = [z for z in ZONES if z[1] not in night] or ZONES
        night_list = [z for z in ZONES if z[1] in night] or ZONES
        self.night_zones = sorted(night)
        self.debtors: list[Debtor] = []
        for i in range(debtors):
            zone = self.rng.choice(night_list if self.rng.random() < night_share else day_zones)
            phone_zone = self.rng.choice(ZONES) if self.rng.random() < 0.05 else zone
            prefix, digits = phone_zone[2], phone_zone[3]
            number = f"{prefix}{2 * 10 ** (digits - 1) + (i * 7919) % (7 * 10 ** (digits - 1))}"
            self.debtors.append(Debtor(f"D{i:06d}", zone[0], zone[1], number,
                                       self.rng.choice((15, 45, 95, 200))))
        self.order = list(range(debtors))
        self.rng.shuffle(self.order)  # who is hot is random, not the lowest ids
        self.hot = self.order[:10]
        self.warm = self.order[: max(10, debtors // 100)]
        self.sequence = 0
        self.last_request_id: str | None = None
        self.sent: list[bytes] = []  # valid requests, for re-sends
        self._cum = list(accumulate((0.50, 0.15, 0.12, 0.15, 0.08)))

    def pick(self) -> Debtor:
        roll = self.rng.random()
        if roll < 0.02:
            return self.debtors[self.rng.choice(self.hot)]
        if roll < 0.30:
            return self.debtors[self.rng.choice(self.warm)]
        return self.debtors[self.rng.randrange(len(self.debtors))]

    def request(self, now: datetime | None = None) -> tuple[bytes, bytes]:
        self.sequence += 1
        debtor = self.pick()
        body: dict[str, Any] = {
            "request_id": f"{self.run}-{self.sequence}", "debtor_id": debtor.id,
            "requested_at": (now or datetime.now(UTC)).isoformat(), "source": "bench-dialer",
            "debt_id": f"{debtor.id}-A", "creditor_id": "C7",
            "debtor": {"region": debtor.region, "timezone": debtor.timezone,
                       "days_past_due": debtor.dpd},
        }
        roll = self.rng.random()
        if roll < self._cum[0]:
            body.update(channel="call", destination=debtor.phone, destination_kind="mobile")
        elif roll < self._cum[1]:
            body.update(channel="sms", destination=debtor.phone, content=CONTENT)
        elif roll < self._cum[2]:
            body.update(channel="email", destination=f"{debtor.id.lower()}@example.com",
                        content=CONTENT)
        elif roll < self._cum[3]:
            content = CONTENT if self.rng.random() < 0.8 else {"amount_due": 412.5}
            body.update(channel="letter", destination=f"addr-{debtor.id}", content=content)
            if self.rng.random() < 0.2:
                body["purpose"] = "legal_notice"
        else:
            body.update(channel="visit", destination=f"addr-{debtor.id}")
        return debtor.id.encode(), orjson.dumps(body)

    def message(self, now: datetime | None = None) -> tuple[bytes, bytes]:
        """The next message of the stream: a request, a malformed one, or a re-send.
        ``last_request_id`` is the new request's id (None for the other two)."""
        roll = self.rng.random()
        self.last_request_id = None
        if roll < 0.02:
            return b"D-bad", self.rng.choice(MALFORMED)
        if roll < 0.03 and self.sent:
            value = self.rng.choice(self.sent)
            return orjson.loads(value)["debtor_id"].encode(), value
        key, value = self.request(now)
        self.last_request_id = f"{self.run}-{self.sequence}"
        if len(self.sent) < 20_000:
            self.sent.append(value)
        elif self.rng.random() < 0.05:
            self.sent[self.rng.randrange(len(self.sent))] = value
        return key, value

    def events(self, share: float = 0.05) -> list[dict[str, Any]]:
        """Debtor events for ``share`` of the book: opt-outs, cease, hardship, attorney."""
        out = []
        now = datetime.now(UTC).isoformat()
        for n, i in enumerate(self.rng.sample(range(len(self.debtors)),
                                              int(len(self.debtors) * share))):
            debtor = self.debtors[i]
            kind = self.rng.choice(("opt_out", "opt_out", "cease", "hardship",
                                    "attorney_represented"))
            body: dict[str, Any] = {"event_id": f"{self.run}-ev-{n}", "debtor_id": debtor.id,
                                    "type": kind, "occurred_at": now}
            if kind == "opt_out":
                body["channel"] = self.rng.choice(("sms", "email", "call"))
            if kind == "hardship":
                body["data"] = {"on": True}
            out.append(body)
        return out
