"""PURE: the dimensions the report cuts by: the stage of an account (its days-past-due
band), the debtor's local hour, and what an outcome counts as."""

from __future__ import annotations

from datetime import datetime

from gatekeeper.localtime import candidate_zones, zone
from gatekeeper.model import ContactRequest, DebtorEvent, DebtorProfile
from gatekeeper.timeutil import to_zone

# (first day past due, name): the collection stages
STAGES: tuple[tuple[int, str], ...] = (
    (0, "0-29"), (30, "30-59"), (60, "60-89"), (90, "90-179"), (180, "180+"))
STAGE_NAMES: tuple[str, ...] = (*(name for _, name in STAGES), "unknown")
UNKNOWN = "unknown"

# A contact is answered when someone or something took it (a person, a voicemail box, a
# delivered message); a conversation is a right-party contact.
ANSWERED = frozenset({"conversation", "voicemail", "delivered"})
CONVERSATION = "conversation"


def stage_of(days_past_due: int | None) -> str:
    if days_past_due is None:
        return UNKNOWN
    name = STAGES[0][1]
    for first, band in STAGES:
        if days_past_due >= first:
            name = band
    return name


def primary_zone(channel: str, destination: str, request_zone: str | None,
                 profile_zone: str | None) -> str | None:
    """The zone whose calendar the gate counts in: the request's, else the stored
    profile's, else the phone number's (``localtime.candidate_zones``)."""
    zones = candidate_zones(channel, destination, request_zone, profile_zone)
    return zones[0] if zones else None


def local_hour(instant: datetime, zone_name: str | None) -> int | None:
    if zone_name is None:
        return None
    return to_zone(instant, zone(zone_name)).hour


class Profiles:
    """What ``profile`` events told of each debtor (last writer wins by event time), for the
    requests that carry no ``debtor`` block."""

    def __init__(self) -> None:
        self._profiles: dict[str, tuple[datetime, DebtorProfile]] = {}

    def apply(self, event: DebtorEvent) -> None:
        if event.type != "profile":
            return
        known = self._profiles.get(event.debtor_id)
        if known is not None and known[0] > event.occurred_at:
            return
        data = event.data
        dpd = data.get("days_past_due")
        update = DebtorProfile(region=data.get("region"), timezone=data.get("timezone"),
                               days_past_due=dpd if isinstance(dpd, int) else None)
        base = known[1] if known is not None else DebtorProfile()
        self._profiles[event.debtor_id] = (event.occurred_at, base.overlay(update))

    def of(self, request: ContactRequest) -> DebtorProfile:
        """The request's own facts, completed by the stored profile."""
        known = self._profiles.get(request.debtor_id)
        return request.debtor if known is None else known[1].overlay(request.debtor)
