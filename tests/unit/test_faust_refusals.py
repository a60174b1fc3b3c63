"""The worker's replacement of faust's offset commit (stream/faust_refusals.py): a refusal is
said and left for the next commit; a commit that succeeds does what faust's own does; and
faust's own still does what the copy assumes (a faust upgrade that changes it fails here,
naming what to check)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import GroupAuthorizationFailedError
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from gatekeeper.stream import faust_refusals
from gatekeeper.stream.runner import Failures

MINE, NOT_MINE = TopicPartition("events", 0), TopicPartition("events", 1)


class Consumer:
    def __init__(self, error: Exception | None = None):
        self.error = error
        self.commits: list[dict[Any, Any]] = []

    async def commit(self, offsets: dict[Any, Any]) -> None:
        if self.error is not None:
            raise self.error
        self.commits.append(offsets)


class Thread:
    """What ``_commit`` uses of faust's consumer thread."""

    def __init__(self, consumer: Consumer):
        self.consumer = consumer
        self.tp_last_committed_at: dict[Any, float] = {}

    def _ensure_consumer(self) -> Consumer:
        return self.consumer

    def assignment(self) -> set[TopicPartition]:
        return {MINE}


def test_a_commit_sends_the_assigned_offsets_and_notes_when() -> None:
    thread = Thread(Consumer())
    assert asyncio.run(faust_refusals._commit(thread, {MINE: 5, NOT_MINE: 9})) is True
    [sent] = thread.consumer.commits
    assert [(tp.partition, meta.offset) for tp, meta in sent.items()] == [(0, 5)]
    assert set(thread.tp_last_committed_at) == {MINE}


def test_a_refused_commit_is_said_and_not_done() -> None:
    said: list[tuple[str, str]] = []
    faust_refusals.install(Failures(refused=lambda what, why: said.append((what, why))))
    try:
        thread = Thread(Consumer(GroupAuthorizationFailedError({"gk.control"})))
        assert asyncio.run(faust_refusals._commit(thread, {MINE: 5})) is False
    finally:
        faust_refusals.install(Failures())
    assert thread.tp_last_committed_at == {}  # the next commit covers these offsets
    assert len(said) == 1 and said[0][0] == "committing the agents' offsets"
    assert "gk.control" in said[0][1] and "GroupAuthorizationFailed" in said[0][1]


def test_faust_still_commits_the_way_the_copy_does() -> None:
    """faust_refusals._commit copies the success path of faust's ``_commit``; if this fails
    after a faust upgrade, compare the two and bring the copy in line."""
    original = faust_refusals._original_commit
    assert list(inspect.signature(original).parameters) == ["self", "offsets"]
    source = inspect.getsource(original)
    for part in ("self._ensure_consumer()", "if tp in self.assignment()",
                 'OffsetAndMetadata(offset, "")', "ensure_aiokafka_TP(tp)",
                 "self.tp_last_committed_at.update(", "await consumer.commit(",
                 "return True"):
        assert part in source, f"faust's _commit no longer has {part!r}"
    assert AIOKafkaConsumerThread._commit is faust_refusals._commit or \
        AIOKafkaConsumerThread._commit is original  # (installed or not: nothing else)
