"""The stream runner's failure callbacks, without Kafka or Redis: each kind of failure reaches
its own callback, and the batch is held (never given up) until it succeeds."""

from __future__ import annotations

import asyncio
from typing import Any

from gatekeeper.errors import InvalidInput, StoreLost, StoreUnavailable
from gatekeeper.stream.routing import Incoming, Outgoing
from gatekeeper.stream.runner import Failures, Runner
from gatekeeper.validate import parse_request


class Keeper:
    def __init__(self) -> None:
        self.ensured = 0

    async def ensure(self) -> None:
        self.ensured += 1


def recording() -> tuple[Failures, list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []
    failures = Failures(
        decode_error=lambda m, e: seen.append(("decode", m.offset)),
        invalid_input=lambda m, e: seen.append(("invalid", m.offset)),
        store_unavailable=lambda what, e, d: seen.append(("store", what)),
        store_lost=lambda what, e: seen.append(("lost", what)),
        broker_unavailable=lambda e, d: seen.append(("broker", str(e))),
        unexpected=lambda what, e: seen.append(("bug", type(e).__name__)))
    return failures, seen


def test_each_failure_reaches_its_callback_and_the_batch_is_held_until_done() -> None:
    failures, seen = recording()
    keeper = Keeper()
    runner = Runner(lambda outputs: asyncio.sleep(0), keeper, failures)  # type: ignore[arg-type]
    errors: list[BaseException] = [StoreUnavailable("down"), StoreLost("flushed"),
                                   KeyError("bug")]

    async def step() -> list[Outgoing]:
        if errors:
            raise errors.pop(0)
        return [Outgoing("allowed", b"k", b"v")]

    out = asyncio.run(runner.until_done(step, "requests"))
    assert [o.value for o in out] == [b"v"]
    assert seen == [("store", "requests"), ("lost", "requests"), ("bug", "KeyError")]
    assert keeper.ensured == 1  # a lost store is rebuilt (or waited for) before the retry


def test_a_failed_produce_sends_the_whole_batch_again() -> None:
    failures, seen = recording()
    sent: list[int] = []

    async def produce(outputs: Any) -> None:
        sent.append(len(outputs))
        if len(sent) == 1:
            raise ConnectionError("broker gone")

    runner = Runner(produce, Keeper(), failures)  # type: ignore[arg-type]
    asyncio.run(runner.deliver([Outgoing("review", b"k", b"1"), Outgoing("decisions", b"k", b"2")]))
    assert sent == [2, 2] and seen == [("broker", "broker gone")]


def test_undecodable_and_invalid_messages_are_told_apart() -> None:
    failures, seen = recording()
    for offset, raw in enumerate([b"{not json", b'{"request_id": 1}']):
        try:
            parse_request(raw)
        except InvalidInput as error:
            failures.rejected(Incoming(b"k", raw, "t", 0, offset), error)
    assert seen == [("decode", 0), ("invalid", 1)]
