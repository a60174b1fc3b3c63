"""Batches into the index two at a time: batch N+1 is parsed in the parser's process while
batch N is written by the index's writer thread. The console's consumer (``consumer.py``) and
the benchmark (``benchmarks/console_index.py``) both ingest through it.

Each batch is still written whole, with its offsets, in one transaction, in the order it was
put; a batch that fails to be written fails the next ``put`` (or ``drain``), and the parser
starts again with nothing remembered (the consumer then reads again from the stored offsets).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from gatekeeper.console.index import DecisionIndex, IngestStats
from gatekeeper.console.index.parsing import Parser, collector_paused, loads
from gatekeeper.console.index.rows import Message


class Pipeline:
    def __init__(self, index: DecisionIndex, writer: ThreadPoolExecutor,
                 parser: Parser | None = None):
        self.index = index
        self.writer = writer
        self.parser = parser or Parser()
        self._writing: asyncio.Future[IngestStats] | None = None

    async def put(self, messages: list[Message]) -> IngestStats | None:
        """Parse a batch (while the previous one is written), then start writing it; returns
        the stats of the previous batch once it is written (None when there was none)."""
        try:
            parsed = await asyncio.wrap_future(self.parser.submit(messages))
        except asyncio.CancelledError:
            raise  # stopping: the writer thread finishes what it has, then closes the index
        except Exception:
            await self._abandon()
            raise
        written = await self.drain()
        self._writing = asyncio.get_running_loop().run_in_executor(
            self.writer, _write, self.index, parsed, messages)
        return written

    async def drain(self) -> IngestStats | None:
        """Wait for the batch being written; its stats (None when there was none)."""
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
        """After a failure: wait for any write under way, and forget what the parser
        remembers (it may hold decisions that were never written)."""
        writing, self._writing = self._writing, None
        if writing is not None:
            await asyncio.gather(writing, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(None, self.parser.restart)

    def close(self) -> None:
        self.parser.close()


def _write(index: DecisionIndex, parsed: bytes, messages: list[Message]) -> IngestStats:
    """In the writer thread: the parsed batch read back (with the collector paused), written."""
    with collector_paused():
        return index.write(loads(parsed, messages))
