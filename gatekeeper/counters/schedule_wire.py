"""The wire of ``lua/schedule.lua``: the deferral schedule's calls and answers (pure).

An entry is what a release needs, as JSON text (opaque to the script): the original
request's bytes (as text: requests are UTF-8 JSON) and key, the first decision's id and its
``deferred_until``. Times travel as epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from gatekeeper.counters.keys import schedule_keys
from gatekeeper.counters.wire import Call

LEASE_MS = 30_000  # a claimed release is another worker's again after this long


@dataclass(frozen=True, slots=True)
class Entry:
    """A parked request as the schedule keeps it."""

    value: bytes  # the original request, byte for byte
    key: bytes | None  # its Kafka key
    first_decision_id: str  # the decision that parked it first (header gk-deferred-from)
    offset: int  # its offset on the request topic: the release order of equal times

    def encode(self) -> str:
        return orjson.dumps({"value": self.value.decode(), "key": _text(self.key),
                             "from": self.first_decision_id, "offset": self.offset}).decode()

    @classmethod
    def decode(cls, text: str) -> Entry:
        body = orjson.loads(text)
        key = body.get("key")
        return cls(body["value"].encode(), key.encode() if key is not None else None,
                   str(body["from"]), int(body["offset"]))


@dataclass(frozen=True, slots=True)
class Due:
    request_id: str
    attempt: int
    until: datetime
    entry: Entry
    partition: int


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def order(offset: int) -> str:
    """The member prefix that sorts equal times in request order (ZRANGEBYSCORE sorts equal
    scores by member, byte-wise)."""
    return f"{offset:016x}"


def _call(partition: int, *args: Any) -> Call:
    return Call("schedule", schedule_keys(partition), args)


def park_call(partition: int, request_id: str, until: datetime, entry: Entry,
              attempt: int = 1) -> Call:
    return _call(partition, "park", request_id, order(entry.offset), ms(until), attempt,
                 entry.encode())


def repark_call(partition: int, request_id: str, attempt: int, until: datetime, entry: Entry
                ) -> Call:
    return _call(partition, "repark", request_id, attempt, ms(until), entry.encode())


def due_call(partition: int, now: datetime, limit: int) -> Call:
    return _call(partition, "due", ms(now), limit)


def claim_call(partition: int, request_id: str, attempt: int, now: datetime) -> Call:
    return _call(partition, "claim", request_id, attempt, ms(now), LEASE_MS)


def finish_call(partition: int, request_id: str, attempt: int, how: str, now: datetime,
                keep_seconds: int) -> Call:
    return _call(partition, "finish", request_id, attempt, how, ms(now), keep_seconds * 1000)


def cancel_call(partition: int, request_id: str, now: datetime, keep_seconds: int) -> Call:
    return _call(partition, "cancel", request_id, ms(now), keep_seconds * 1000)


def due_answer(partition: int, answer: Sequence[Any]) -> tuple[int, list[Due]]:
    """How many entries the partition's schedule holds, and those due."""
    return int(answer[0]), [Due(str(answer[i]), int(answer[i + 1]),
                                datetime.fromtimestamp(float(answer[i + 2]) / 1000, UTC),
                                Entry.decode(str(answer[i + 3])), partition)
                            for i in range(1, len(answer), 4)]


def status(answer: Sequence[Any]) -> tuple[str, str | None]:
    """The first word of an answer, and its second (an attempt, or how it finished)."""
    return str(answer[0]), (str(answer[1]) if len(answer) > 1 else None)


def _text(key: bytes | None) -> str | None:
    return key.decode("utf-8", "replace") if key is not None else None
