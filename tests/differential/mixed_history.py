"""A large, mixed, deterministic contact history for the differential test.

``history(seed)`` returns the lines of a ``gatekeeper simulate`` input (requests, debtor
events and contact outcomes), in time order: hundreds of debtors in a dozen regions and
time zones (some unknown, some contradicting their phone numbers), over episodes that
straddle DST changes (America, Europe), month, year and local-day boundaries and
statutory holidays, with bursts on hot debtors to reach limits, times placed exactly on
and one second around local hour boundaries, status and opt-out events switched on and
off, consents, conversations, inconvenient times, replays of requests already decided,
and outcomes that keep or release reservations.

Every line is valid input: the history is built from the contract, never from the code
under test. The same seed gives the same lines on every machine and Python 3.11+.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

CHANNELS = ("call", "sms", "email", "letter", "visit")
CHANNEL_WEIGHTS = (45, 20, 15, 12, 8)
PURPOSES = ("collection", "opt_out_confirmation", "cease_notice", "reply_to_debtor",
            "legal_notice")
PURPOSE_WEIGHTS = (80, 4, 4, 6, 6)
OUTCOMES = ("not_connected", "no_answer", "voicemail", "conversation", "delivered", "failed")
OUTCOME_WEIGHTS = (15, 20, 15, 15, 25, 10)
DESTINATION_KINDS = ("mobile", "residence", "work", "other")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# (region, time zone, postal code, phone prefixes (+ country and area code), weight)
PLACES: tuple[tuple[str | None, str | None, str | None, tuple[str, ...], int], ...] = (
    ("US-MA", "America/New_York", "02108", ("+1617", "+1508"), 8),
    ("US-WA", "America/Los_Angeles", "98101", ("+1206", "+1509"), 6),
    ("US-FL", "America/New_York", "33101", ("+1305", "+1850"), 6),
    ("US-NY", "America/New_York", "10001", ("+1212", "+1718"), 6),
    ("US-NY", "America/New_York", "14201", ("+1716",), 3),
    ("US-NY", "America/New_York", None, ("+1212",), 2),
    ("US-TX", "America/Chicago", "75201", ("+1214", "+1915"), 5),
    ("US", None, None, ("+1312", "+1602", "+1808"), 4),
    ("CA-ON", "America/Toronto", "M5V 2T6", ("+1416", "+1807"), 6),
    ("CA-BC", "America/Vancouver", "V6B 1A1", ("+1604",), 5),
    ("CA-QC", "America/Toronto", "H2X 1Y4", ("+1514",), 5),
    ("CN", "Asia/Shanghai", None, ("+86138", "+86139"), 5),
    ("GB", "Europe/London", "SW1A 1AA", ("+447700",), 5),
    ("UK", "Europe/London", None, ("+447700",), 1),
    (None, None, None, ("+1617", "+1206", "+86138", "+447700", "+1800"), 6),
    (None, "America/Denver", None, ("+1303",), 2),
    ("US-WA", "Asia/Tokyo", None, ("+1206",), 1),  # a stored zone that contradicts the number
)

# (first day, days): DST in America (8 Mar, 1 Nov 2026) and Europe (29 Mar, 25 Oct 2026),
# month and year ends, Canada Day, Christmas and New Year.
EPISODES: tuple[tuple[date, int], ...] = (
    (date(2026, 3, 5), 6),
    (date(2026, 3, 26), 6),
    (date(2026, 6, 27), 7),
    (date(2026, 10, 22), 6),
    (date(2026, 10, 29), 6),
    (date(2026, 12, 22), 12),
)
SEED = 20260301
EDGE_TIMES = ((7, 0), (8, 0), (9, 0), (12, 30), (13, 0), (13, 30), (17, 0), (18, 0),
              (20, 0), (21, 0), (22, 0), (0, 0))


@dataclass
class Debtor:
    id: str
    region: str | None
    zone: str | None
    postal_code: str | None
    phones: list[str]
    emails: list[str]
    addresses: list[str]
    debts: list[str]
    creditors: list[str]
    hot: bool
    kinds: dict[str, str] = field(default_factory=dict)  # destination -> kind


@dataclass
class _Line:
    at: datetime
    order: int
    line: dict[str, Any]


def _utc(text: datetime) -> str:
    return text.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Builder:
    def __init__(self, seed: int, debtors: int, per_episode: float):
        self.rng = random.Random(seed)
        self.lines: list[_Line] = []
        self.order = 0
        self.events = 0
        self.requests = 0
        self.per_episode = per_episode
        self.decided: dict[str, list[tuple[str, datetime, dict[str, Any]]]] = {}
        self.debtors = [self._debtor(i) for i in range(debtors)]

    # ----------------------------------------------------------------------------- debtors
    def _debtor(self, i: int) -> Debtor:
        rng = self.rng
        region, zone, postal, prefixes, _ = rng.choices(PLACES, [p[4] for p in PLACES])[0]
        phones = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            prefix = rng.choice(prefixes)
            length = {"+86": 14, "+44": 13}.get(prefix[:3], 12)  # E.164 length with "+"
            digits = length - len(prefix)
            phones.append(prefix + "".join(str(rng.randrange(10)) for _ in range(digits)))
        debtor = Debtor(
            id=f"D{i:04d}", region=region, zone=zone, postal_code=postal, phones=phones,
            emails=[f"d{i}@example.com", f"d{i}.alt@example.org"][:rng.choice((1, 2))],
            addresses=[f"addr-{i}-{k}" for k in range(rng.choice((1, 2)))],
            debts=[f"DEBT-{i}-{k}" for k in range(rng.choice((1, 1, 2, 3)))],
            creditors=rng.sample(["CR1", "CR2", "CR3", "CR4"], rng.choice((1, 2))),
            hot=rng.random() < 0.15,
        )
        for destination in phones + debtor.addresses:
            debtor.kinds[destination] = rng.choice(DESTINATION_KINDS)
        return debtor

    def _add(self, at: datetime, kind: str, data: dict[str, Any]) -> None:
        self.order += 1
        self.lines.append(_Line(at, self.order, {"kind": kind, "data": data}))

    # --------------------------------------------------------------------------------- time
    def _instant(self, debtor: Debtor, first: date, days: int) -> datetime:
        """A time in the episode: often on (or one second around) a local hour boundary of
        the debtor's zone, otherwise anywhere in the day."""
        rng = self.rng
        day = first + timedelta(days=rng.randrange(days))
        zone = ZoneInfo(debtor.zone or rng.choice(("America/New_York", "Europe/London",
                                                   "Asia/Shanghai", "America/Los_Angeles")))
        roll = rng.random()
        if roll < 0.3:
            hour, minute = rng.choice(EDGE_TIMES)
            local = datetime.combine(day, time(hour, minute), tzinfo=zone)
            instant = local.astimezone(UTC) + timedelta(seconds=rng.choice((-1, 0, 0, 1)))
        elif roll < 0.9:
            local = datetime.combine(day, time(rng.randrange(8, 21), rng.randrange(60),
                                               rng.randrange(60)), tzinfo=zone)
            instant = local.astimezone(UTC)
        else:
            instant = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(
                seconds=rng.randrange(86400))
        return instant.astimezone(UTC)

    # ----------------------------------------------------------------------------- requests
    def _profile(self, debtor: Debtor) -> dict[str, Any]:
        rng = self.rng
        profile: dict[str, Any] = {}
        if debtor.region and rng.random() < 0.5:
            profile["region"] = debtor.region
        if debtor.zone and rng.random() < 0.4:
            profile["timezone"] = debtor.zone
        if debtor.postal_code and rng.random() < 0.3:
            profile["postal_code"] = debtor.postal_code
        if rng.random() < 0.3:
            profile["days_past_due"] = rng.choice((0, 15, 89, 90, 120, 179, 180, 400))
        if rng.random() < 0.05:
            profile["hardship"] = rng.random() < 0.5
        return profile

    def _content(self) -> dict[str, Any] | None:
        rng = self.rng
        if rng.random() < 0.1:
            return None
        content: dict[str, Any] = {"amount_due": round(rng.uniform(10, 5000), 2),
                                   "currency": rng.choice(("USD", "CAD", "GBP", "CNY")),
                                   "due_date": "2026-12-01", "payment_options": ["card", "bank"],
                                   "opt_out_instructions": "Reply STOP to opt out"}
        for key in list(content):
            if rng.random() < 0.06:
                del content[key]
        return content

    def _request(self, debtor: Debtor, at: datetime) -> None:
        rng = self.rng
        self.requests += 1
        channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        if channel in ("call", "sms"):
            destination = rng.choice(debtor.phones)
        elif channel == "email":
            destination = rng.choice(debtor.emails)
        else:
            destination = rng.choice(debtor.addresses)
        data: dict[str, Any] = {
            "request_id": f"R{self.requests:06d}", "debtor_id": debtor.id, "channel": channel,
            "destination": destination, "requested_at": _utc(at),
        }
        if rng.random() < 0.85:
            data["debt_id"] = rng.choice(debtor.debts)
        if rng.random() < 0.8:
            data["creditor_id"] = rng.choice(debtor.creditors)
        if rng.random() < 0.5:
            data["collector_id"] = rng.choice(("COL1", "COL2"))
        if destination in debtor.kinds and rng.random() < 0.7:
            data["destination_kind"] = debtor.kinds[destination]
        profile = self._profile(debtor)
        if profile:
            data["debtor"] = profile
        if rng.random() < 0.2:
            data["purpose"] = rng.choices(PURPOSES, PURPOSE_WEIGHTS)[0]
        if channel in ("letter", "email", "sms"):
            content = self._content()
            if content is not None:
                data["content"] = content
        if rng.random() < 0.06:
            data["not_after"] = _utc(at + timedelta(seconds=rng.choice((-3600, -1, 0, 60))))
        self._add(at, "request", data)
        self.decided.setdefault(debtor.id, []).append((data["request_id"], at, data))
        if rng.random() < 0.6:
            outcome_at = at + timedelta(seconds=rng.randrange(5, 3600))
            outcome: dict[str, Any] = {
                "request_id": data["request_id"], "debtor_id": debtor.id,
                "outcome": rng.choices(OUTCOMES, OUTCOME_WEIGHTS)[0],
                "occurred_at": _utc(outcome_at)}
            if outcome["outcome"] == "conversation" and rng.random() < 0.7:
                outcome["debt_ids"] = rng.sample(debtor.debts, rng.randrange(1, len(debtor.debts)
                                                                              + 1))
            self._add(outcome_at, "outcome", outcome)
        if rng.random() < 0.02:  # a replay of this very request, a few seconds later
            self._add(at + timedelta(seconds=rng.randrange(1, 30)), "request", dict(data))

    # ------------------------------------------------------------------------------- events
    def _event(self, debtor: Debtor, at: datetime, kind: str, **extra: Any) -> None:
        self.events += 1
        occurred = at
        if self.rng.random() < 0.05:  # arrives late: dated before lines already replayed
            occurred = at - timedelta(seconds=self.rng.randrange(60, 7200))
        data = {"event_id": f"E{self.events:06d}", "debtor_id": debtor.id, "type": kind,
                "occurred_at": _utc(occurred), **extra}
        self._add(at, "event", data)

    def _profile_event(self, debtor: Debtor, at: datetime) -> None:
        body: dict[str, Any] = {}
        if debtor.region:
            body["region"] = debtor.region
        if debtor.zone:
            body["timezone"] = debtor.zone
        if debtor.postal_code:
            body["postal_code"] = debtor.postal_code
        body["days_past_due"] = self.rng.choice((10, 45, 89, 90, 95, 150, 200, 365))
        if self.rng.random() < 0.08:
            body["hardship"] = True
        self._event(debtor, at, "profile", data=body)

    def _random_event(self, debtor: Debtor, at: datetime) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.16:
            channel = rng.choice(CHANNELS)
            extra: dict[str, Any] = {"channel": channel}
            if channel in ("call", "sms") and rng.random() < 0.5:
                extra["destination"] = rng.choice(debtor.phones)
            elif channel == "email" and rng.random() < 0.5:
                extra["destination"] = rng.choice(debtor.emails)
            self._event(debtor, at, rng.choice(("opt_out", "opt_out", "opt_in")), **extra)
        elif roll < 0.30:
            on, off = rng.choice((("cease", "cease_lifted"), ("bankruptcy", "bankruptcy_closed"),
                                  ("dispute", "dispute_resolved"),
                                  ("attorney_represented", "attorney_released")))
            extra = {}
            if on == "attorney_represented" and rng.random() < 0.7:
                extra["debt_id"] = rng.choice(debtor.debts)
            self._event(debtor, at, on if rng.random() < 0.35 else off, **extra)
        elif roll < 0.31:
            self._event(debtor, at, "deceased")
        elif roll < 0.44:
            self._event(debtor, at, "hardship", data={"on": rng.random() < 0.3})
        elif roll < 0.54:
            windows = []
            for _ in range(rng.randrange(0, 3)):
                start = rng.randrange(0, 24)
                end = rng.randrange(0, 25)
                window: dict[str, Any] = {"start": f"{start:02d}:00", "end": f"{end:02d}:30"
                                          if end < 24 else "24:00"}
                if rng.random() < 0.5:
                    window["days"] = rng.sample(WEEKDAYS, rng.randrange(1, 4))
                windows.append(window)
            self._event(debtor, at, "inconvenient_times", data={"windows": windows})
        elif roll < 0.66:
            extra = {}
            if rng.random() < 0.5:
                extra["channel"] = rng.choice(CHANNELS)
            if rng.random() < 0.5:
                extra["debt_id"] = rng.choice(debtor.debts)
            until = at + timedelta(hours=rng.choice((1, 24, 24 * 7, 24 * 8)))
            body = {"until": _utc(until)} if rng.random() < 0.8 else {}
            self._event(debtor, at, "consent", data=body, **extra)
        elif roll < 0.82:
            body = {}
            if rng.random() < 0.7:
                body["debt_ids"] = rng.sample(debtor.debts, rng.randrange(1, len(debtor.debts)
                                                                          + 1))
            extra = {"debt_id": rng.choice(debtor.debts)} if rng.random() < 0.2 else {}
            self._event(debtor, at, "conversation", data=body, **extra)
        else:
            self._profile_event(debtor, at)

    # ------------------------------------------------------------------------------ episodes
    def build(self) -> list[dict[str, Any]]:
        rng = self.rng
        start = datetime.combine(EPISODES[0][0], time(0), tzinfo=UTC) - timedelta(days=2)
        for debtor in self.debtors:
            if rng.random() < 0.8:
                self._profile_event(debtor, start + timedelta(seconds=rng.randrange(86400)))
        for first, days in EPISODES:
            for debtor in self.debtors:
                count = self._poisson(self.per_episode * (6 if debtor.hot else 1))
                for _ in range(count):
                    at = self._instant(debtor, first, days)
                    if rng.random() < 0.18:
                        self._random_event(debtor, at)
                    else:
                        self._burst(debtor, at)
        self.lines.sort(key=lambda item: (item.at, item.order))
        return [item.line for item in self.lines]

    def _burst(self, debtor: Debtor, at: datetime) -> None:
        """One request, or a few to the same debtor within hours (limits, spacing)."""
        size = 1 if self.rng.random() < 0.7 else self.rng.randrange(2, 6)
        for _ in range(size):
            self._request(debtor, at)
            at += timedelta(seconds=self.rng.choice((1, 60, 600, 3600, 4 * 3600)))

    def _poisson(self, mean: float) -> int:
        count, total = 0, self.rng.expovariate(1.0)
        while total < mean:
            count += 1
            total += self.rng.expovariate(1.0)
        return count


def history(seed: int = SEED, debtors: int = 400, per_episode: float = 1.0
            ) -> list[dict[str, Any]]:
    """The lines of the history, in time order (same seed, same lines)."""
    return _Builder(seed, debtors, per_episode).build()
