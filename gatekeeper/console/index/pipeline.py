"""Batches into the index two at a time: batch N+1 is parsed in the parser's process while
batch N is written by the index's writer thread. The console's consumer (``consumer.py``) and
the benchmark (``benchmarks/console_index.py``) both ingest through it.

Each batch is written whole, with its offsets, in the order it was put. While more batches
are coming (a catch-up, a rebuild), several share one transaction (up to ``GROUP`` messages
or ``GROUP_SECONDS``): each commit writes every page it changed to the WAL (and the checkpoint
copies them again), and the random request and debtor indexes are changed all over, so eight
batches of one commit change far fewer pages than eight commits (at ten million decisions,
with the writer's cache holding a group's pages, the writer spent 28 % less CPU a decision;
the README's decision index section has the figures). A batch that fails to be written
fails the next ``put`` (or ``drain``), rolls back the batches of its transaction, and the
parser starts again with nothing remembered (the consumer then reads again from the stored
offsets, which were rolled back with the rows).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

from gatekeeper.console.index import DecisionIndex, IngestStats
from gatekeeper.console.index.parsing import Parser, collector_paused, loads
from gatekeeper.console.index.rows import Message

GROUP = 160_000  # messages per transaction at most, while more are coming
GROUP_SECONDS = 5.0  # and at most this old: readers see the rows once committed


class Pipeline:
    def __init__(self, index: DecisionIndex, writer: ThreadPoolExecutor,
                 parser: Parser | None = None, *, group: int = GROUP,
                 group_seconds: float = GROUP_SECONDS):
        self.index = index
        self.writer = writer
        self.parser = parser or Parser()
        self.group = group
        self.group_seconds = group_seconds
        self._writing: asyncio.Future[IngestStats] | None = None
        self._open = 0  # messages written but not committed
        self._opened = 0.0  # when the open transaction began (monotonic)

    async def put(self, messages: list[Message], *, more: bool = False
                  ) -> IngestStats | None:
        """Parse a batch (while the previous one is written), then start writing it; returns
        the stats of the previous batch once it is written (None when there was none).
        ``more``: another batch follows at once (the caller read a full one), so this one may
        stay in an open transaction for the next to join (``drain`` commits)."""
        try:
            parsed = await asyncio.wrap_future(self.parser.submit(messages))
        except asyncio.CancelledError:
            raise  # stopping: the writer thread finishes what it has, then closes the index
        except Exception:
            await self._abandon()
            raise
        written = await self._wait()
        if not self._open:
            self._opened = time.monotonic()
        self._open += len(messages)
        commit = not more or self._open >= self.group or \
            time.monotonic() - self._opened >= self.group_seconds
        if commit:
            self._open = 0
        self._writing = asyncio.get_running_loop().run_in_executor(
            self.writer, _write, self.index, parsed, messages, commit)
        return written

    async def drain(self) -> IngestStats | None:
        """Wait for the batch being written, and commit; its stats (None when there was
        none)."""
        written = await self._wait()
        if self._open:
            self._open = 0
            try:
                await asyncio.get_running_loop().run_in_executor(self.writer, self.index.commit)
            except asyncio.CancelledError:
                raise
            except Exception:
                await self._abandon()
                raise
        return written

    async def _wait(self) -> IngestStats | None:
        writing, self._writing = self._writing, None
        if writing is None:
            return None
        try:
            return await writing
        except asyncio.CancelledError:
            raise
        except Exception:
            await self._abandon()
            raise

    @property
    def writing(self) -> bool:
        return self._writing is not None

    async def _abandon(self) -> None:
        """After a failure: wait for any write under way, commit the batches written whole
        before it (a failed write rolled them back with itself), and forget what the parser
        remembers (it may hold decisions that were never written)."""
        writing, self._writing = self._writing, None
        if writing is not None:
            await asyncio.gather(writing, return_exceptions=True)
        self._open = 0
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):  # (the failure at hand is the one to raise)
            await loop.run_in_executor(self.writer, self.index.commit)
        await loop.run_in_executor(None, self.parser.restart)

    def close(self) -> None:
        self.parser.close()


def _write(index: DecisionIndex, parsed: bytes, messages: list[Message], commit: bool
           ) -> IngestStats:
    """In the writer thread: the parsed batch read back (with the collector paused), written."""
    with collector_paused():
        return index.write(loads(parsed, messages), commit=commit)
