"""The deferral schedule as the stream path uses it: park what the gate blocked until a
time, and apply cancels, in the batch's one extra round trip (``counters/lua/schedule.lua``).

One schedule per partition of the request topic: a parked request stays in the schedule of
the partition it was read from, so the worker that owns that partition releases it, several
workers share the schedules, and a rebalance moves them with the partitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gatekeeper.counters import schedule_wire as sw
from gatekeeper.counters.contract import StoreContract
from gatekeeper.deferral import messages
from gatekeeper.deferral.rule import deferred_until
from gatekeeper.errors import InvalidInput
from gatekeeper.model import ContactRequest, Decision
from gatekeeper.stream.routing import Incoming, Outgoing
from gatekeeper.validate import cancel_from_dict, decode

DAY = 86400


@dataclass(frozen=True, slots=True)
class Parked:
    message: Incoming
    request: ContactRequest
    decision: Decision
    until: datetime


class Schedule:
    def __init__(self, store: StoreContract, *, horizon_days: int = 7, max_attempts: int = 5,
                 keep_seconds: int = 3 * DAY):
        self.store = store
        self.horizon = timedelta(days=horizon_days)
        self.max_attempts = max_attempts
        self.keep_seconds = keep_seconds  # finished ids are remembered this long (decision TTL)
        self.woken = True  # something was parked since the release loop last looked

    def until(self, request: ContactRequest, decision: Decision, now: datetime
              ) -> datetime | None:
        return deferred_until(request, decision, now, self.horizon)

    @staticmethod
    def cancel_of(message: Incoming) -> tuple[str, str] | InvalidInput | None:
        """The (request id, debtor id) a cancel names; None when the message is no cancel
        (a request, or something else the request path judges); the error of a bad one."""
        if not messages.looks_like_cancel(message.value):
            return None
        try:
            body = decode(message.value)
        except InvalidInput:
            return None  # the request path dead-letters it
        if "cancel" not in body:
            return None
        try:
            return cancel_from_dict(body)
        except InvalidInput as error:
            return error

    async def park(self, parked: Sequence[Parked]) -> list[Outgoing]:
        """Park each (a replay parks nothing twice, and never one already finished) and
        return its announcement."""
        entries = [sw.Entry(p.message.value or b"", p.message.key, p.decision["decision_id"],
                            p.message.offset) for p in parked]
        await self.store.run([sw.park_call(p.message.partition, p.request.request_id,
                                           p.until, e) for p, e in zip(parked, entries,
                                                                       strict=True)])
        self.woken = True
        return [messages.announcement(p.message, p.request.raw, p.decision, p.until, 1, e)
                for p, e in zip(parked, entries, strict=True)]

    async def cancel(self, cancels: Sequence[tuple[Incoming, str, str]], now: datetime
                     ) -> list[Outgoing]:
        """Withdraw each named request from its partition's schedule; record every cancel
        (found: cancelled, sending: its release is under way, unknown, or how it finished)."""
        answers: list[Any] = await self.store.run([
            sw.cancel_call(m.partition, request_id, now, self.keep_seconds)
            for m, request_id, _ in cancels])
        outputs = []
        for (message, request_id, debtor_id), answer in zip(cancels, answers, strict=True):
            word, how = sw.status(answer)  # (a second cancel, or the same one again after
            found = how or word if word == "finished" else word  # a retry: "cancelled")
            outputs.append(messages.cancel_record(message, request_id, debtor_id, found, now))
        return outputs
