"""aiokafka's own lines about a refusal, once a minute.

While an ACL is missing, aiokafka logs at every fetch "Not authorized to read from topic T."
and at every offset commit "OffsetCommit failed for unauthorized topics {...}" (once a second
and every few seconds). The worker says the refusal itself, in words and once a minute
(``Failures.refused``); this lets aiokafka's lines through once a minute per topic.
"""

from __future__ import annotations

import logging
import time

REPEAT = 60.0  # seconds
LINES = {  # logger -> the start of its refusal line
    "aiokafka.consumer.fetcher": "Not authorized to read from topic",
    "aiokafka.consumer.group_coordinator": "OffsetCommit failed for unauthorized topics",
}


class OnceAMinute(logging.Filter):
    def __init__(self, start: str) -> None:
        super().__init__()
        self.start = start
        self.last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.start):
            return True
        what = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ""
        now = time.monotonic()
        if now - self.last.get(what, -REPEAT) < REPEAT:
            return False
        self.last[what] = now
        return True


def install() -> None:
    """Once per process (idempotent)."""
    for name, start in LINES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, OnceAMinute) for f in logger.filters):
            logger.addFilter(OnceAMinute(start))
