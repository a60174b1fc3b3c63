"""The decision index: what the console reads, kept from the record topics.

One small interface (``DecisionIndex``) with one implementation today, ``SqliteIndex``
(embedded, stdlib ``sqlite3``, WAL). The index holds nothing that the topics do not: delete
its file and it is rebuilt from them (``index/consumer.py`` keeps the offsets it has read in
the same transaction as the rows, so a restart neither skips nor doubles a message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from gatekeeper.console.index.rows import Message

if TYPE_CHECKING:
    from gatekeeper.console.index.parsing import Parsed

__all__ = [
    "Cursor", "DecisionIndex", "DecisionView", "IngestStats", "Message", "Overview",
    "QueueFilter", "QueueItem", "QueuePage", "TimelineItem",
]


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Filters of the review queue; None (or empty) leaves one out. Times are epoch ms."""

    rule: str | None = None
    pack: str | None = None
    channel: str | None = None
    region: str | None = None
    debtor: str | None = None
    since: int | None = None
    until: int | None = None
    status: str = "open"  # open | acknowledged | released | all


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in the queue (newest first): the time and ingest id of a row."""

    ts: int
    id: int

    def text(self) -> str:
        return f"{self.ts}.{self.id}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        if not text:
            return None
        ts, _, ident = text.partition(".")
        try:
            return cls(int(ts), int(ident))
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: int
    ts: int
    request_id: str
    debtor_id: str
    channel: str
    region: str | None
    state: str  # open | acknowledged | released
    body: dict[str, Any]  # the message: {"request", "decision", "via", ...}


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[QueueItem]
    older: Cursor | None  # the next page, when there is one
    newest_id: int  # the highest ingest id seen by this query (for "new since")


@dataclass(frozen=True, slots=True)
class DecisionView:
    id: int
    ts: int
    request_id: str
    debtor_id: str
    decision: str
    via: str
    actor: str | None
    state: str
    region: str | None
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TimelineItem:
    ts: int
    what: str  # decision | event | outcome | action
    label: str  # allowed / blocked / the event type / the outcome / release ...
    request_id: str | None
    summary: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Overview:
    hours: list[tuple[int, int, int]]  # (hour start ms, decisions, blocked)
    by_rule: list[tuple[str, int]]
    by_channel: list[tuple[str, int]]
    by_region: list[tuple[str, int]]
    decisions: int
    blocked: int


@dataclass
class IngestStats:
    messages: int = 0
    decisions: int = 0
    duplicates: int = 0
    events: int = 0
    outcomes: int = 0
    actions: int = 0
    unreadable: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class DecisionIndex(Protocol):
    """What the console needs of an index; a server engine would implement the same."""

    def ingest(self, messages: list[Message]) -> IngestStats: ...

    def write(self, parsed: Parsed, *, commit: bool = True) -> IngestStats: ...

    def commit(self) -> None: ...

    def offsets(self) -> dict[tuple[str, int], int]: ...

    def queue(self, filters: QueueFilter, *, before: Cursor | None = None,
              limit: int = 50) -> QueuePage: ...

    def queue_since(self, filters: QueueFilter, after_id: int, *,
                    limit: int = 100) -> QueuePage: ...

    def decisions(self, request_id: str) -> list[DecisionView]: ...

    def actions(self, request_id: str) -> list[dict[str, Any]]: ...

    def outcomes(self, request_id: str, debtor_id: str) -> list[dict[str, Any]]: ...

    def timeline(self, debtor_id: str, *, limit: int = 500,
                 before: int | None = None) -> list[TimelineItem]: ...

    def debtor_profile(self, debtor_id: str) -> dict[str, str | None]: ...

    def rule_hours(self, since: int, until: int) -> list[tuple[int, str, int]]: ...

    def overview(self, since: int, until: int) -> Overview: ...

    def choices(self) -> dict[str, list[str]]: ...

    def prune(self, before: int) -> int: ...

    def close(self) -> None: ...
