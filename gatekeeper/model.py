"""Typed records of the contract: requests, events, outcomes, debtor state and decisions.

Records are frozen; they are built by ``validate`` from checked JSON and never by hand
from untrusted input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict

Channel = Literal["call", "sms", "email", "letter", "visit"]
CHANNELS: tuple[str, ...] = ("call", "sms", "email", "letter", "visit")
WRITTEN_CHANNELS: frozenset[str] = frozenset({"letter", "sms", "email"})
PHONE_CHANNELS: frozenset[str] = frozenset({"call", "sms"})
OUTCOMES: tuple[str, ...] = (
    "not_connected", "no_answer", "voicemail", "conversation", "delivered", "failed",
)


@dataclass(frozen=True, slots=True)
class DebtorProfile:
    """What is known of a debtor's situation; every field may be unknown."""

    region: str | None = None
    timezone: str | None = None
    postal_code: str | None = None
    days_past_due: int | None = None
    hardship: bool | None = None

    def overlay(self, other: DebtorProfile) -> DebtorProfile:
        """``other``'s known fields take precedence over ours."""
        return DebtorProfile(
            region=other.region if other.region is not None else self.region,
            timezone=other.timezone if other.timezone is not None else self.timezone,
            postal_code=other.postal_code if other.postal_code is not None else self.postal_code,
            days_past_due=(
                other.days_past_due if other.days_past_due is not None else self.days_past_due
            ),
            hardship=other.hardship if other.hardship is not None else self.hardship,
        )


@dataclass(frozen=True, slots=True)
class ContactRequest:
    request_id: str
    debtor_id: str
    channel: str
    destination: str
    requested_at: datetime
    debt_id: str | None = None
    creditor_id: str | None = None
    collector_id: str | None = None
    destination_kind: str | None = None
    debtor: DebtorProfile = field(default_factory=DebtorProfile)
    purpose: str = "collection"
    content: dict[str, Any] | None = None
    not_after: datetime | None = None
    source: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    on_block: str = "review"  # review | defer (gatekeeper/deferral/)


@dataclass(frozen=True, slots=True)
class DebtorEvent:
    event_id: str
    debtor_id: str
    type: str
    occurred_at: datetime
    debt_id: str | None = None
    channel: str | None = None
    destination: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContactOutcome:
    request_id: str
    debtor_id: str
    outcome: str
    occurred_at: datetime
    debt_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContactCancel:
    """A withdrawal of a parked (deferred) request (schemas/contact_cancel.schema.json);
    ``requested_at`` when the message gave one."""

    request_id: str
    debtor_id: str
    requested_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """A consumer-designated inconvenient local time span, optionally on some weekdays."""

    start: str
    end: str
    days: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DebtorState:
    """The debtor's stored status, built from ``debtor.events``.

    ``flags`` holds active statuses (``cease``, ``attorney_represented`` with debt scope as
    ``attorney_represented:<debt>``, ``bankruptcy``, ``deceased``, ``dispute``...).
    ``opt_outs`` holds ``<channel>`` or ``<channel>:<destination hash>``.
    ``conversations`` maps debt id (or ``*``) to the epoch second of the last conversation.
    ``consents`` maps ``<channel or *>:<debt or *>`` to the epoch second it runs until.
    ``notices`` maps ``<notice>:<debt or *>`` to the epoch second it was last sent.
    """

    version: int = 0
    profile: DebtorProfile = field(default_factory=DebtorProfile)
    flags: frozenset[str] = frozenset()
    opt_outs: frozenset[str] = frozenset()
    conversations: tuple[tuple[str, float], ...] = ()
    consents: tuple[tuple[str, float], ...] = ()
    inconvenient: tuple[Window, ...] = ()
    notices: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    kind: str
    message: str
    limit: int | None = None
    observed: int | None = None
    retry_at: str | None = None
    citation: str | None = None

    def as_dict(self) -> ReasonDict:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "message": self.message,
            "limit": self.limit,
            "observed": self.observed,
            "retry_at": self.retry_at,
            "citation": self.citation,
        }


class ReasonDict(TypedDict):
    """A reason as it is written in a Decision (schemas/decision.schema.json)."""

    rule: str
    kind: str
    message: str
    limit: int | None
    observed: int | None
    retry_at: str | None
    citation: str | None


class Decision(TypedDict):
    """A Decision as the contract writes it (schemas/decision.schema.json): what every path
    (stream, HTTP, deferral, release) returns and records."""

    decision_id: str
    request_id: str
    debtor_id: str
    decision: str  # allowed | blocked
    reasons: list[ReasonDict]
    retry_at: str | None
    policy: str
    evaluated_at: str
    shadow: list[ReasonDict]
