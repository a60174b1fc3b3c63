"""The index's ingest pipeline: batches parsed in a process of their own while the previous
batch is written give the index that the inline ingest gives; a failed write fails the next
step, and the parser then forgets what it remembered."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
from aiokafka import TopicPartition

from gatekeeper.console.index import IngestStats, QueueFilter
from gatekeeper.console.index.consumer import BEHIND, behind
from gatekeeper.console.index.parsing import Parsed
from gatekeeper.console.index.pipeline import Pipeline
from gatekeeper.console.index.rows import Message
from gatekeeper.console.index.sample import decision_message, traffic
from gatekeeper.console.index.sqlite import HOUR, SqliteIndex

T0 = 1_790_000_000_000


@pytest.fixture
def writer() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown()


def _batches(messages: list[Message], size: int) -> list[list[Message]]:
    return [messages[at:at + size] for at in range(0, len(messages), size)]


def _totals(all_stats: list[IngestStats]) -> tuple[int, int, int, int, int]:
    return (sum(s.messages for s in all_stats), sum(s.decisions for s in all_stats),
            sum(s.duplicates for s in all_stats), sum(s.events for s in all_stats),
            sum(s.outcomes for s in all_stats))


async def test_the_pipeline_indexes_what_the_inline_ingest_does(
        tmp_path: Path, writer: ThreadPoolExecutor) -> None:
    messages = list(traffic(2000, debtors=100, start_ms=T0, end_ms=T0 + 48 * HOUR))
    inline, piped = SqliteIndex(tmp_path / "a.sqlite"), SqliteIndex(tmp_path / "b.sqlite")
    expected = [inline.ingest(batch) for batch in _batches(messages, 700)]
    pipeline = Pipeline(piped, writer)
    try:
        got = [await pipeline.put(batch) for batch in _batches(messages, 700)]
        got.append(await pipeline.drain())
    finally:
        pipeline.close()
    assert got[0] is None  # the first put returns before its batch is written
    written = [s for s in got if s is not None]
    assert len(written) == len(expected)
    assert _totals(written) == _totals(expected)
    assert _totals(written)[1] == 2000
    everything = QueueFilter(status="all")
    assert [i.request_id for i in piped.queue(everything, limit=5000).items] == \
        [i.request_id for i in inline.queue(everything, limit=5000).items]
    assert piped.overview(T0, T0 + 48 * HOUR) == inline.overview(T0, T0 + 48 * HOUR)
    assert piped.offsets() == inline.offsets()


class FailingIndex(SqliteIndex):
    """Fails to write, once, a batch with a decision on request R2."""

    failed = False

    def write(self, parsed: Parsed, *, commit: bool = True) -> IngestStats:
        if not self.failed and any(row[2] == "R2" and row[11] == 1 for row in parsed.decisions):
            self.failed = True
            raise RuntimeError("disk full")
        return super().write(parsed, commit=commit)


def _message(kind: str, offset: int, value: dict[str, object]) -> Message:
    return Message(kind, f"t.{kind}", 0, offset, T0, b"k", orjson.dumps(value))


async def test_a_failed_write_fails_the_next_step_and_the_parser_forgets(
        tmp_path: Path, writer: ThreadPoolExecutor) -> None:
    index = FailingIndex(tmp_path / "index.sqlite")
    first = decision_message("R1", "D1", T0, blocked=True)
    lost = decision_message("R2", "D1", T0, blocked=True)
    pipeline = Pipeline(index, writer)
    try:
        assert await pipeline.put([_message("decisions", 0, first)]) is None
        assert (await pipeline.put([_message("decisions", 1, lost)])).decisions == 1
        with pytest.raises(RuntimeError, match="disk full"):
            await pipeline.drain()
        # R2's review copy: parsed, not skipped as the copy of a decision read lately (that
        # decision was never written)
        review = {"request": lost["request"], "decision": lost["decision"]}
        await pipeline.put([_message("review", 0, review)])
        stats = await pipeline.drain()
    finally:
        pipeline.close()
    assert stats is not None and stats.decisions == 1 and stats.duplicates == 0
    assert [d.request_id for d in index.decisions("R2")] == ["R2"]
    assert index.offsets() == {("t.decisions", 0): 1, ("t.review", 0): 1}


async def test_batches_that_follow_one_another_share_a_commit_up_to_the_group(
        tmp_path: Path, writer: ThreadPoolExecutor) -> None:
    messages = list(traffic(400, debtors=20, start_ms=T0, end_ms=T0 + HOUR))
    index = SqliteIndex(tmp_path / "index.sqlite")
    batches = _batches(messages, 100)
    pipeline = Pipeline(index, writer, group=250, group_seconds=3600)

    def decisions_in(count: int) -> int:  # in the first ``count`` messages
        return sum(1 for m in messages[:count] if m.kind == "decisions")

    try:
        await pipeline.put(batches[0], more=True)
        await pipeline.put(batches[1], more=True)  # batch 0 written, not committed
        assert index.newest_id() == 0  # (this thread's connection: a reader's view)
        await pipeline.put(batches[2], more=True)  # the group's 250th message: it commits
        await pipeline.put(batches[3], more=True)
        assert index.newest_id() == decisions_in(300)
        # batch 4, put with no more behind it, is written with a commit (batch 3's too); the
        # writer thread may or may not have finished it when ``put`` returns: only the next
        # put (which waits for it) can tell
        await pipeline.put(batches[4], more=False)
        await pipeline.put(batches[5], more=True)
        assert index.newest_id() == decisions_in(500)
        await pipeline.drain()  # commits
        assert index.newest_id() == decisions_in(600)
        for batch in batches[6:]:
            await pipeline.put(batch, more=True)
        await pipeline.drain()
    finally:
        pipeline.close()
    assert index.newest_id() == 400
    assert index.offsets()[("contact.decisions", 0)] == 400


class Watermarks:
    """A consumer's high watermarks, as the last fetch reported them."""

    def __init__(self, **highs: int | None):
        self.highs = highs

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highs[tp.topic]


class Record:
    def __init__(self, offset: int):
        self.offset = offset


def test_a_batch_is_part_of_a_catch_up_when_a_partition_has_many_more_waiting() -> None:
    a, b = TopicPartition("a", 0), TopicPartition("b", 0)
    fetched = {a: [Record(5), Record(6)], b: [Record(40)]}
    assert not behind(Watermarks(a=7, b=41), fetched)  # read to the end
    assert not behind(Watermarks(a=7 + BEHIND - 1, b=41), fetched)  # a live burst
    assert behind(Watermarks(a=7, b=41 + BEHIND), fetched)
    assert not behind(Watermarks(a=None, b=None), fetched)  # no fetch answered yet
    assert not behind(Watermarks(a=10_000, b=10_000), {a: [], b: []})
