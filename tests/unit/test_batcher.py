"""Concurrent checks are gathered into one call; one call (or ``concurrency``) at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from gatekeeper.http.batcher import Batcher


class Recorder:
    def __init__(self, delay: float = 0.0, fail: Exception | None = None):
        self.calls: list[list[int]] = []
        self.delay = delay
        self.fail = fail
        self.running = 0
        self.most_at_once = 0

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.calls.append(list(items))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.delay)
            if self.fail:
                raise self.fail
            return [i * 10 for i in items]
        finally:
            self.running -= 1


async def test_checks_arriving_together_go_in_one_call() -> None:
    run = Recorder()
    batcher = Batcher(run)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(200)))
    assert results == [i * 10 for i in range(200)]
    assert run.calls == [list(range(200))]


async def test_checks_arriving_during_a_call_wait_for_it_and_go_in_the_next() -> None:
    run = Recorder(delay=0.05)
    batcher = Batcher(run)
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0.01)  # the first call is running now
    later = [asyncio.create_task(batcher.submit(i)) for i in range(1, 6)]
    await asyncio.gather(first, *later)
    assert run.calls == [[0], [1, 2, 3, 4, 5]]
    assert run.most_at_once == 1


async def test_with_concurrency_2_a_batch_starts_while_another_runs_and_no_third() -> None:
    run = Recorder(delay=0.05)
    batcher = Batcher(run, concurrency=2)
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0.01)  # [0] runs: one more batch may start
    second = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
    await asyncio.sleep(0.01)  # [1, 2] runs too: the next checks wait for one to end
    third = [asyncio.create_task(batcher.submit(i)) for i in (3, 4)]
    assert await asyncio.gather(first, *second, *third) == [0, 10, 20, 30, 40]
    assert run.calls == [[0], [1, 2], [3, 4]]
    assert run.most_at_once == 2


async def test_batches_are_cut_at_max_size() -> None:
    run = Recorder()
    batcher = Batcher(run, max_size=3)
    await asyncio.gather(*(batcher.submit(i) for i in range(7)))
    assert run.calls == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_window_gathers_checks_a_little_apart() -> None:
    run = Recorder()
    batcher = Batcher(run, window=0.05)

    async def later(i: int) -> int:
        await asyncio.sleep(0.01 * i)
        return await batcher.submit(i)

    await asyncio.gather(*(later(i) for i in range(3)))
    assert run.calls == [[0, 1, 2]]


async def test_a_failed_call_fails_every_check_of_its_batch_and_the_next_batch_runs() -> None:
    run = Recorder(fail=ConnectionError("redis down"))
    batcher = Batcher(run)
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in range(3)),
                                    return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    run.fail = None
    assert await batcher.submit(9) == 90


async def test_a_check_whose_caller_gave_up_before_its_batch_is_left_out() -> None:
    run = Recorder(delay=0.05)
    batcher = Batcher(run)
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0.01)
    gone = asyncio.create_task(batcher.submit(1))
    kept = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0)
    gone.cancel()
    assert await kept == 20 and await first == 0
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert run.calls == [[0], [2]]


async def test_closing_cancels_the_waiting_checks() -> None:
    run = Recorder(delay=10)
    batcher = Batcher(run)
    waiting = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0.01)
    await batcher.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting
