"""The debtor's clocks: candidate time zones, local calendar periods, weekday windows and
statutory holidays. Pure: every function takes the instant it reasons about.

Nothing here raises at the ends of the calendar (years 1 and 9999, in any zone): local
dates saturate, and an instant past the last representable day is ``UTC_MAX``, "never"
(see ``timeutil``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers import timezone as phone_timezone

from gatekeeper.model import PHONE_CHANNELS
from gatekeeper.policy.model import WEEKDAYS, Span
from gatekeeper.timeutil import UTC_MAX, add_days, to_zone

EPOCH = date(1970, 1, 1)
MAX_PHONE_ZONES = 16
SEARCH_DAYS = 400


@lru_cache(maxsize=4096)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


NON_GEOGRAPHIC = frozenset({
    phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.PREMIUM_RATE,
    phonenumbers.PhoneNumberType.SHARED_COST, phonenumbers.PhoneNumberType.UAN,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
})


@lru_cache(maxsize=262144)
def _parsed(number: str) -> phonenumbers.PhoneNumber | None:
    plain = plain_e164(number)
    if plain is not None:
        return plain
    try:
        return phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None


E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def plain_e164(number: str) -> phonenumbers.PhoneNumber | None:
    """``phonenumbers.parse(number, None)`` without its general machinery (a third of a new
    number's cost), for the usual number: "+", a country calling code, then national digits
    that start neither with 0 (leading zeros) nor with what the country's numbering plan
    strips as a national prefix. None for any other number (parse it in full)."""
    if not E164.fullmatch(number):
        return None
    for size in (1, 2, 3):  # calling codes are prefix-free: the first known one is it
        code = int(number[1:1 + size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = number[1 + size:]
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code))
    if national.startswith("0") or metadata is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    if prefix and _pattern(prefix).match(national):
        return None
    return phonenumbers.PhoneNumber(country_code=code, national_number=int(national))


@lru_cache(maxsize=512)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


@lru_cache(maxsize=262144)
def _phone_facts(number: str) -> tuple[tuple[str, ...], bool]:
    """An E.164 number's zones and whether it is non-geographic, from one classification
    of the number (the costly step, as ``time_zones_for_number`` would make it again)."""
    parsed = _parsed(number)
    if parsed is None:
        return (), False
    kind = phonenumbers.number_type(parsed)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        found: Sequence[str] = ()
    elif phonenumbers.is_number_type_geographical(kind, parsed.country_code or 0):
        found = phone_timezone.time_zones_for_geographical_number(parsed)
    else:
        found = phone_timezone.time_zones_for_number(parsed)
    zones = [z for z in found if z != "Etc/Unknown"]
    return tuple(zones[:MAX_PHONE_ZONES]), kind in NON_GEOGRAPHIC


def phone_zones(number: str) -> tuple[str, ...]:
    """IANA zones of an E.164 number's area, as far as the numbering plan tells."""
    return _phone_facts(number)[0]


def non_geographic(number: str) -> bool:
    """A toll-free, premium, shared-cost or personal number: its area code locates nobody."""
    return _phone_facts(number)[1]


@lru_cache(maxsize=65536)  # a debtor's requests repeat their channels and destinations
def candidate_zones(channel: str, destination: str,
                    request_zone: str | None, profile_zone: str | None) -> tuple[str, ...]:
    """Every zone the debtor may be in: the request's, the stored profile's, and the
    phone number's; in that order (the first is the primary zone), without repeats.

    A non-geographic number (toll-free...) says nothing of where the debtor is: when a
    declared zone is known, its numbering-plan zones (every zone of the country) are
    left out, and the declared zone, the last known residence, decides (Fla. Stat.
    559.72(17)(b)). Without a declared zone they are kept (the conservative reading)."""
    names: list[str] = []
    for name in (request_zone, profile_zone):
        if name and name not in names:
            names.append(name)
    if channel in PHONE_CHANNELS:
        zones = phone_zones(destination)
        # (a number of one area has one zone: only a wider one may be non-geographic)
        toll_free = len(zones) > 1 and bool(names) and non_geographic(destination)
        for name in () if toll_free else zones:
            if name not in names:
                names.append(name)
    return tuple(names)


@lru_cache(maxsize=8192)  # a batch shares its instant: one conversion per zone
def local_date(instant: datetime, zone_name: str) -> date:
    return to_zone(instant, zone(zone_name)).date()


def day_number(day: date) -> int:
    return (day - EPOCH).days


def week_number(day: date) -> int:
    """Weeks start on Monday; 1970-01-01 was a Thursday."""
    return (day_number(day) + 3) // 7


def month_number(day: date) -> int:
    return day.year * 12 + day.month - 1


def start_of_day(day: date, zone_name: str) -> datetime:
    """The first instant of a local day (midnight, or the first valid time on a DST gap)."""
    tz = zone(zone_name)
    local = datetime.combine(day, time(0), tz)
    # Round-trip through UTC: a midnight that does not exist maps to the next valid instant.
    return to_zone(to_zone(local, UTC), tz)


def start_of_day_after(day: date, days: int, zone_name: str) -> datetime:
    """The first instant of the local day ``days`` after ``day``; ``UTC_MAX`` (never) when
    that day lies past the end of the calendar."""
    later = add_days(day, days)
    return UTC_MAX if later is None else start_of_day(later, zone_name)


def local_instant(day: date, minutes: int, zone_name: str) -> datetime:
    """The instant of a local wall-clock time (minutes after midnight, up to 1440)."""
    if minutes >= 1440:
        return start_of_day_after(day, 1, zone_name)
    tz = zone(zone_name)
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tz)
    return to_zone(to_zone(local, UTC), tz)


def next_period_start(day: date, period: str, zone_name: str) -> datetime:
    """The first instant of the next local day, week or month; ``UTC_MAX`` (never) past
    the end of the calendar."""
    if period == "day":
        return start_of_day_after(day, 1, zone_name)
    if period == "week":
        return start_of_day_after(day, 7 - day.weekday(), zone_name)
    if day.year == 9999 and day.month == 12:
        return UTC_MAX
    first = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return start_of_day(first, zone_name)


PUBLIC = ("public",)


@lru_cache(maxsize=1024)
def _holiday_calendar(region: str, year: int, categories: tuple[str, ...] = PUBLIC
                      ) -> holidays.HolidayBase | None:
    """The region's holidays of the given categories (categories a country does not have
    are left out; an unknown subdivision falls back to the country)."""
    country, _, subdivision = region.partition("-")
    for subdiv in ((subdivision or None, None) if subdivision else (None,)):
        try:
            base = holidays.country_holidays(country, subdiv=subdiv, years=year)
        except (NotImplementedError, KeyError):
            continue
        supported = tuple(c for c in categories
                          if c in getattr(base, "supported_categories", PUBLIC))
        if supported == PUBLIC or not supported:
            return base
        return holidays.country_holidays(country, subdiv=subdiv, years=year,
                                         categories=supported)
    return None


def holiday_name(region: str | None, day: date, categories: tuple[str, ...] = PUBLIC
                 ) -> str | None:
    if not region:
        return None
    calendar = _holiday_calendar(region, day.year, categories)
    if calendar is None:
        return None
    name = calendar.get(day)
    return str(name) if name else None


class Hours:
    """Allowed local spans per weekday in one zone; optionally none on holidays.

    ``Hours.of`` hands out one shared object per rule, zone and holiday calendar, and each
    object remembers its answers for the last instants and days it was asked about: the
    requests of a batch share the batch's time, so each zone's local time, holiday lookup
    and earliest opening are worked out once per batch instead of once per request."""

    MEMO = 256  # instants and days remembered per object

    def __init__(self, zone_name: str, week: dict[str, Sequence[Span]],
                 holiday_region: str | None = None, holiday_categories: tuple[str, ...] = PUBLIC):
        self.zone_name = zone_name
        self.tz = zone(zone_name)
        self.week = week
        self.holiday_region = holiday_region
        self.holiday_categories = holiday_categories
        self._spans: dict[date, Sequence[Span]] = {}
        self._allows: dict[datetime, bool] = {}
        self._earliest: dict[datetime, datetime | None] = {}

    @classmethod
    def of(cls, zone_name: str, week: dict[str, Sequence[Span]],
           holiday_region: str | None = None, holiday_categories: tuple[str, ...] = PUBLIC
           ) -> Hours:
        """The shared ``Hours`` of these windows (a policy's windows are never changed once
        loaded; they are told apart by identity) in this zone."""
        key = (id(week), zone_name, holiday_region, holiday_categories)
        found = _SHARED.get(key)
        if found is None or found.week is not week:
            if len(_SHARED) >= 65536:
                _SHARED.clear()
            found = _SHARED[key] = cls(zone_name, week, holiday_region, holiday_categories)
        return found

    def spans_on(self, day: date) -> Sequence[Span]:
        spans = self._spans.get(day)
        if spans is None:
            spans = self._spans_on(day)
            _remember(self._spans, day, spans, self.MEMO)
        return spans

    def _spans_on(self, day: date) -> Sequence[Span]:
        if self.holiday_region and holiday_name(self.holiday_region, day,
                                                self.holiday_categories):
            return ()
        return self.week.get(WEEKDAYS[day.weekday()], ())

    def allows(self, instant: datetime) -> bool:
        allowed = self._allows.get(instant)
        if allowed is None:
            local = to_zone(instant, self.tz)
            minute = local.hour * 60 + local.minute
            allowed = False
            for span in self.spans_on(local.date()):  # (a loop: no generator per call)
                if span.start_minutes <= minute < span.end_minutes:
                    allowed = True
                    break
            _remember(self._allows, instant, allowed, self.MEMO)
        return allowed

    def earliest(self, instant: datetime) -> datetime | None:
        """The first instant at or after ``instant`` inside an allowed span."""
        if instant in self._earliest:
            return self._earliest[instant]
        found = self._earliest_from(instant)
        _remember(self._earliest, instant, found, self.MEMO)
        return found

    def _earliest_from(self, instant: datetime) -> datetime | None:
        if self.allows(instant):
            return instant
        day = to_zone(instant, self.tz).date()
        for offset in range(SEARCH_DAYS):
            current = add_days(day, offset)
            if current is None:
                return None  # past the end of the calendar: never
            for span in self.spans_on(current):
                start = datetime.combine(current, span.start, self.tz)
                start = to_zone(to_zone(start, UTC), self.tz)
                if start >= instant and self.allows(start):
                    return to_zone(start, UTC)
        return None


_SHARED: dict[tuple[int, str, str | None, tuple[str, ...]], Hours] = {}
K = TypeVar("K")
V = TypeVar("V")


def _remember(memo: dict[K, V], key: K, value: V, size: int) -> None:
    if len(memo) >= size:
        memo.clear()
    memo[key] = value


def earliest_common(instant: datetime, constraints: Iterable[object]) -> datetime | None:
    """The first instant at or after ``instant`` that every constraint allows.

    A constraint has ``earliest(t) -> t' >= t or None``. Each step moves forward to the
    latest of their answers; at a fixpoint all of them allow it."""
    items = list(constraints)
    current = instant
    for _ in range(256):
        moved = current
        for item in items:
            answer = item.earliest(moved)  # type: ignore[attr-defined]
            if answer is None:
                return None
            moved = max(moved, answer)
        if moved == current:
            return current
        current = moved
    return None


class NotBefore:
    """A constraint that holds from one instant on."""

    def __init__(self, instant: datetime):
        self.instant = instant

    def earliest(self, instant: datetime) -> datetime:
        return max(instant, self.instant)
