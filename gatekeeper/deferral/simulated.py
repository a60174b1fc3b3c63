"""Deferral in ``gatekeeper simulate``: the same rule and the same gate, the schedule a heap
in memory. A deferred request's line is its blocked decision with ``"decision":
"deferred"`` and ``deferred_until``; before each later line (and at the end) every request
due by then is decided again at its ``deferred_until``, and its line written there, in time
order: allowed, blocked (to review), or deferred again; each names the ``attempt`` and the
first decision (``deferred_from``), under the original request id. A cancel line writes what
the worker records on ``contact.deferred``: ``{"cancel", "debtor_id", "found": cancelled (it
was parked: never sent) | released | reviewed (decided already) | unknown, "at"}``."""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta
from typing import Any

from gatekeeper.deferral.messages import attempt_id
from gatekeeper.deferral.rule import deferred_until
from gatekeeper.errors import InvalidInput
from gatekeeper.gate import Gate
from gatekeeper.model import ContactCancel, ContactRequest, Decision
from gatekeeper.settings import Settings
from gatekeeper.validate import request_from_dict

DEFAULTS = Settings()


class Pending:
    def __init__(self, gate: Gate, *, horizon_days: int = DEFAULTS.defer_horizon,
                 max_attempts: int = DEFAULTS.defer_max_attempts):
        self.gate = gate
        self.horizon = timedelta(days=horizon_days)
        self.max_attempts = max_attempts
        self._heap: list[tuple[datetime, int, ContactRequest, int, str]] = []
        self._seq = 0
        self._fates: dict[str, str] = {}  # parked once, now finished: released | reviewed
        self._now: datetime | None = None  # the latest time a line was decided at

    def line(self, request: ContactRequest, decision: Decision, now: datetime,
             attempt: int = 0, first: str | None = None) -> dict[str, Any]:
        """The line of a decision (``attempt`` 0: the stream's); a deferrable one is parked."""
        out: dict[str, Any] = dict(decision)
        self._now = now
        if attempt:
            out.update({"request_id": request.request_id, "attempt": attempt,
                        "deferred_from": first})
        until = deferred_until(request, decision, now, self.horizon)
        if until is not None and attempt < self.max_attempts:
            out["decision"] = "deferred"
            out["deferred_until"] = until.isoformat().replace("+00:00", "Z")
            self._seq += 1
            heapq.heappush(self._heap, (until, self._seq, request, attempt + 1,
                                        first or decision["decision_id"]))
        elif attempt:
            self._fates[request.request_id] = ("released" if decision["decision"] == "allowed"
                                               else "reviewed")
        return out

    def cancel(self, cancel: ContactCancel) -> dict[str, Any]:
        """Withdraw a parked request of the cancel's debtor; the line saying what it found."""
        found = self._fates.get(cancel.request_id, "unknown")
        for i, (_, _, request, _, _) in enumerate(self._heap):
            if (request.request_id, request.debtor_id) == (cancel.request_id, cancel.debtor_id):
                self._heap.pop(i)
                heapq.heapify(self._heap)
                found = "cancelled"
                break
        at = cancel.requested_at or self._now
        self._now = at
        return {"cancel": cancel.request_id, "debtor_id": cancel.debtor_id, "found": found,
                "at": None if at is None else at.isoformat().replace("+00:00", "Z")}

    async def due(self, by: datetime | None) -> list[dict[str, Any]]:
        """Decide every request due by ``by`` (None: all), each at its time, in time order."""
        lines = []
        while self._heap and (by is None or self._heap[0][0] <= by):
            until, _, request, attempt, first = heapq.heappop(self._heap)
            again = request_from_dict({**request.raw,
                                       "request_id": attempt_id(request.request_id, attempt)})
            (decision,) = await self.gate.decide([again], until)
            if isinstance(decision, InvalidInput):
                continue  # (the same content decided before: cannot happen here)
            lines.append(self.line(request, decision, until, attempt, first))
        return lines
