"""The record of a time range, read from Kafka (``record_reader``): one partition group at a
time, each group's items merged in broker-timestamp order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from aiokafka import TopicPartition

from gatekeeper.access_errors import unseen_topic_hint
from gatekeeper.brokers import bootstrap
from gatekeeper.errors import GatekeeperError
from gatekeeper.record_reader import KINDS, Item, partition_groups, read_partitions, record_consumer
from gatekeeper.settings import Settings
from gatekeeper.topics import partitions_of

UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class RangeError(GatekeeperError):
    """A time range that cannot be used (names the flag, what was expected and found)."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime
    end: datetime

    @classmethod
    def from_flags(cls, since: str | None, start: str | None, end: str | None,
                   now: datetime | None = None) -> TimeRange:
        now = now or datetime.now(UTC)
        if since is not None and start is not None:
            raise RangeError("give --since or --from, not both")
        until = _instant(end, "--to") if end else now
        first = (_instant(start, "--from") if start is not None
                 else until - _duration(since or "7d"))
        if first >= until:
            raise RangeError(f"--from: expected a time before --to ({until.isoformat()}), "
                             f"found {first.isoformat()}")
        return cls(first, until)


def _duration(text: str) -> timedelta:
    number, unit = text[:-1], text[-1:]
    if unit not in UNITS or not number.isdigit() or int(number) == 0:
        raise RangeError(f"--since: expected a duration such as 30m, 12h, 7d or 2w, "
                         f"found {text!r}")
    return timedelta(seconds=int(number) * UNITS[unit])


def _instant(text: str, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RangeError(f"{flag}: expected a date (2026-11-01) or an RFC 3339 time "
                         f"(2026-11-01T08:00:00Z), found {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


class RecordSource:
    """``groups()`` yields each partition group's items; ``count()`` says how many
    decisions the range holds (for the progress bar)."""

    def __init__(self, settings: Settings, since: Mapping[str, datetime | None],
                 until: Mapping[str, datetime | None]):
        self.settings = settings
        self.topics = {kind: settings.topics[kind] for kind in KINDS}
        self.since = {k: _ms(v) for k, v in since.items()}
        self.until = {k: _ms(v) for k, v in until.items()}
        self.found: dict[str, list[int]] = {}

    async def open(self) -> None:
        self.found = await partitions_of(self.settings.broker, list(self.topics.values()))
        if self.topics["decisions"] not in self.found:
            raise RangeError(f"no topic {self.topics['decisions']} at {self.settings.broker}: "
                             "nothing was recorded there (check --topic-prefix / "
                             "GATEKEEPER_TOPIC_PREFIX and --broker)" + unseen_topic_hint())

    async def count(self) -> int:
        """Decisions in the range, by offsets (an upper bound when clocks disagree)."""
        consumer = record_consumer(bootstrap(self.settings.broker))
        await consumer.start()
        try:
            topic = self.topics["decisions"]
            tps = [TopicPartition(topic, n) for n in self.found.get(topic, [])]
            if not tps:
                return 0
            ends = await consumer.end_offsets(tps)
            starts = dict(await consumer.beginning_offsets(tps))
            for bound, offsets in ((self.since.get("decisions"), starts),
                                   (self.until.get("decisions"), ends)):
                if bound is None:
                    continue
                found = await consumer.offsets_for_times({tp: bound for tp in tps})
                for tp in tps:
                    at = found.get(tp)
                    offsets[tp] = at.offset if at is not None else ends[tp]
            return sum(max(0, ends[tp] - starts[tp]) for tp in tps)
        finally:
            await consumer.stop()

    async def groups(self) -> AsyncIterator[list[Item]]:
        consumer = record_consumer(bootstrap(self.settings.broker))
        await consumer.start()
        try:
            for group in partition_groups(self.found):
                yield await read_partitions(consumer, self.topics, self.found, group,
                                            self.since, self.until)
        finally:
            await consumer.stop()


class RecordIndex(Protocol):
    """What ``IndexSource`` needs of an index (the console's ``SqliteIndex``)."""

    def record(self, since: int, until: int, outcomes_until: int, *, limit: int
               ) -> tuple[list[tuple[int, int, str, bytes]], int]: ...


class IndexSource:
    """The record of a time range from the console's decision index, which keeps every
    message as it was on its topic: the same items ``RecordSource`` reads from Kafka, in
    one group. At most ``limit`` decisions, the latest of the range (``total`` says how
    many the range holds); the profiles before the range's end; outcomes up to ``grace``
    after it. An item's timestamp is the message's own time (the index keeps no broker
    time)."""

    def __init__(self, index: RecordIndex, span: TimeRange, *, limit: int,
                 grace: timedelta):
        self.index, self.span, self.limit, self.grace = index, span, limit, grace
        self.total = 0

    def items(self) -> list[Item]:
        rows, self.total = self.index.record(
            _ms_of(self.span.start), _ms_of(self.span.end), _ms_of(self.span.end + self.grace),
            limit=self.limit)
        return [Item(ts, order, debtor.encode(), body, None) for order, ts, debtor, body in rows]


def _ms_of(at: datetime) -> int:
    return int(at.timestamp() * 1000)
