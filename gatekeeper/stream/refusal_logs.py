"""A refusal (an ACL taken away) is said once a minute: ``due`` is the one throttle for the
worker's and serve's own sentences and for aiokafka's lines.

While an ACL is missing, aiokafka logs at every fetch "Not authorized to read from topic T."
and at every offset commit "OffsetCommit failed for unauthorized topics {...}" (once a second
and every few seconds). The worker says the refusal itself, in words and once a minute
(``Failures.refused``); this lets aiokafka's lines through once a minute per topic.
"""

from __future__ import annotations

import logging
import time

REPEAT = 60.0  # seconds
_said: dict[object, float] = {}  # what was said -> when (monotonic)


def due(what: object) -> bool:
    """Whether ``what`` (any hashable naming a refusal) is to be said now: the first time,
    and again once ``REPEAT`` seconds have passed since it was last said."""
    now = time.monotonic()
    if now - _said.get(what, -REPEAT) < REPEAT:
        return False
    _said[what] = now
    return True


LINES = {  # logger -> the start of its refusal line
    "aiokafka.consumer.fetcher": "Not authorized to read from topic",
    "aiokafka.consumer.group_coordinator": "OffsetCommit failed for unauthorized topics",
}


class OnceAMinute(logging.Filter):
    def __init__(self, start: str) -> None:
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.start):
            return True
        what = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ""
        return due((self.start, what))


def install() -> None:
    """Once per process (idempotent)."""
    for name, start in LINES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, OnceAMinute) for f in logger.filters):
            logger.addFilter(OnceAMinute(start))
