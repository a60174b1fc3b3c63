"""A progress bar on standard error: redrawn in place on a terminal, a line every few seconds
otherwise (a log, CI)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, what: str, total: int, stream: TextIO | None = None,
                 every: float = 2.0):
        self.what, self.total = what, max(total, 0)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = 0.1 if self.tty else every
        self.started = time.monotonic()
        self.last = 0.0
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._draw()

    def line(self) -> str:
        seconds = max(time.monotonic() - self.started, 1e-3)
        rate = self.done / seconds
        if self.total:
            share = min(1.0, self.done / self.total)
            bar = "#" * round(WIDTH * share) + "." * (WIDTH - round(WIDTH * share))
            left = (self.total - self.done) / rate if rate and self.done < self.total else 0
            return (f"[{bar}] {share:4.0%} {self.done:,}/{self.total:,} {self.what}, "
                    f"{rate:,.0f}/s, {left:.0f}s left")
        return f"{self.done:,} {self.what}, {rate:,.0f}/s"

    def _draw(self) -> None:
        if self.tty:
            self.stream.write("\r" + self.line() + "\033[K")
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def finish(self) -> None:
        self._draw()
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()
