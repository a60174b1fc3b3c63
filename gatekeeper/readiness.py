"""The one wait for a worker started as a subprocess: ready when every marker line is in its
log (after ``offset``), failed when the process exits first or the timeout passes. The demo,
the benchmark and the tests' WorkerProcess use it; ``wait`` blocks, ``wait_async`` does not
hold up the event loop.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

WORKER_READY = ("gatekeeper ready", "Worker]: Ready")  # our line, then faust's
PASSTHROUGH_READY = ("passthrough ready", "Worker]: Ready")


class NotReady(RuntimeError):
    """The process exited, or did not log its markers in time; the message has the log tail."""


@dataclass
class Readiness:
    name: str
    log_path: Path
    process: subprocess.Popen[bytes]
    markers: Sequence[str] = WORKER_READY
    offset: int = 0  # bytes of the log that were there before this process started
    poll_seconds: float = 0.2

    def log_text(self) -> str:
        try:
            data = self.log_path.read_bytes()[self.offset:]
        except FileNotFoundError:
            return ""
        return data.decode("utf-8", "replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def ready(self) -> bool:
        """True once every marker is logged; NotReady if the process has exited."""
        text = self.log_text()
        if all(marker in text for marker in self.markers):
            return True
        if self.process.poll() is not None:
            raise NotReady(f"{self.name} exited ({self.process.returncode}) before it was "
                           f"ready; the end of {self.log_path}:\n{self.tail()}")
        return False

    def _timed_out(self, timeout: float) -> NotReady:
        missing = [m for m in self.markers if m not in self.log_text()]
        return NotReady(f"{self.name} did not become ready in {timeout:.0f}s (no "
                        f"{', '.join(map(repr, missing))} in its log); the end of "
                        f"{self.log_path}:\n{self.tail()}")

    def wait(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise self._timed_out(timeout)
            time.sleep(self.poll_seconds)

    async def wait_async(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise self._timed_out(timeout)
            await asyncio.sleep(self.poll_seconds)
