"""The backtest's replay: recorded history through the same core and Lua, with a candidate
policy, on a store of its own (a private redis-server).

For a range [start, end) of the record:

* every debtor event up to ``end`` is applied (events are kept forever: an old opt-out binds);
* the **warm-up**: decisions of the ``warmup_days`` before ``start`` (the candidate's longest
  window, two decision TTLs and two days, as a rebuild takes) are restored as recorded
  (``Gate.restore``, planned with the candidate's rules: the counts its rules would have
  seen), so the candidate starts the range with the history's counters, not from zero;
* every recorded request of the range is decided again by the candidate, at its recorded
  evaluation time, and compared with the recorded decision (``compare.Comparison``); a
  request recorded twice (a worker's replay after a crash) is decided again as live, and
  compared once;
* outcomes settle reservations and start cool-downs, except those of requests the
  candidate blocks (the contact would not have been placed). A request the candidate newly
  allows has no outcome on record: its reservation stays, as if nothing was reported. An
  outcome that can change no later decision under the candidate (it releases no rule's
  count and is not a conversation) costs no call: it would only mark its record.

Debtors are independent, so the replay goes in debtor lanes (``replay.Lanes``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from gatekeeper.analytics.compare import Comparison
from gatekeeper.analytics.dimensions import UNKNOWN, Profiles
from gatekeeper.analytics.entries import DECISION, EVENT, Decided, Entry
from gatekeeper.analytics.replay import Lanes, Step
from gatekeeper.counters.wire import generation
from gatekeeper.errors import InvalidInput
from gatekeeper.gate import Gate, Recorded, Ttls
from gatekeeper.model import ContactOutcome, DebtorEvent
from gatekeeper.policy.model import Policy
from gatekeeper.restore import _record_from, needed_days

EVENTS, RESTORE, DECIDE, OUTCOMES = range(4)  # at one instant: events first, as live


def warmup_days(gate: Gate) -> int:
    """How far before the range the record still sets the candidate's counters."""
    return policy_warmup_days(gate.policy, gate.ttls)


def policy_warmup_days(policy: Policy, ttls: Ttls) -> int:
    """``warmup_days`` of a policy (before any store is open)."""
    return needed_days(policy.max_window_days, ttls.decision_seconds // 86400)


@dataclass(frozen=True, slots=True)
class Range:
    start: datetime
    end: datetime

    def warmup(self, gate: Gate) -> datetime:
        return self.warmup_of(gate.policy, gate.ttls)

    def warmup_of(self, policy: Policy, ttls: Ttls) -> datetime:
        return self.start - timedelta(days=policy_warmup_days(policy, ttls))


class Backtest:
    def __init__(self, gate: Gate, span: Range,
                 progress: Callable[[int], None] | None = None):
        self.gate, self.span = gate, span
        self.comparison = Comparison(gate.policy.version)
        self.profiles = Profiles()
        self.not_placed: set[str] = set()  # request ids of the range the candidate blocks
        self.compared: set[str] = set()  # request ids of the range compared once
        self.stats = {"events": 0, "restored": 0, "decided": 0, "duplicates": 0,
                      "outcomes": 0, "outcomes_left_out": 0}
        self.progress = progress
        self.replayed = 0

    async def replay(self, entries: Iterable[Entry]) -> None:
        """Replay every entry of some debtors (in time order per debtor; the debtors of one
        call must be none of an earlier call's)."""
        steps = []
        for entry in entries:
            if entry.order == EVENT:
                kind = EVENTS
            elif entry.order == DECISION:
                if entry.at >= self.span.end:
                    continue
                kind = DECIDE if entry.at >= self.span.start else RESTORE
            else:
                kind = OUTCOMES
            steps.append(Step(kind, entry.at, entry.debtor, entry.value))
        lanes = Lanes({EVENTS: self._events, RESTORE: self._restore, DECIDE: self._decide,
                       OUTCOMES: self._outcomes})
        await lanes.run(steps)

    async def _events(self, steps: list[Step]) -> None:
        events: list[DebtorEvent] = [step.payload for step in steps]
        for event in events:
            self.profiles.apply(event)
        await self.gate.apply_events(events)
        self.stats["events"] += len(events)

    async def _restore(self, steps: list[Step]) -> None:
        recorded: list[Recorded] = []
        for step in steps:
            decided: Decided = step.payload
            request = decided.request
            recorded.append((request.debtor_id, request.request_id,
                             lambda r=request: r,  # type: ignore[misc]
                             decided.record or _record_from(decided.decision, request)))
        await self.gate.restore(recorded, max(step.at for step in steps))
        self.stats["restored"] += len(recorded)
        self._advance(len(recorded))

    async def _decide(self, steps: list[Step]) -> None:
        decided: list[Decided] = [step.payload for step in steps]
        results = await self.gate.decide_recorded([d.request for d in decided],
                                                  [step.at for step in steps])
        for entry, (candidate, _) in zip(decided, results, strict=True):
            request = entry.request
            if request.request_id in self.compared:
                self.stats["duplicates"] += 1  # recorded twice (a replay after a crash)
                continue
            self.compared.add(request.request_id)
            region = self.profiles.of(request).region or UNKNOWN
            self.comparison.add(request, region, entry.decision,
                                cast("dict[str, Any] | InvalidInput", candidate))
            if not isinstance(candidate, dict) or candidate["decision"] != "allowed":
                self.not_placed.add(request.request_id)
        self.stats["decided"] += len(decided)
        self._advance(len(decided))

    def _advance(self, count: int) -> None:
        self.replayed += count
        if self.progress is not None:
            self.progress(self.replayed)

    async def _outcomes(self, steps: list[Step]) -> None:
        groups: dict[int, tuple[datetime, list[ContactOutcome]]] = {}
        for step in steps:
            outcome: ContactOutcome = step.payload
            if outcome.request_id in self.not_placed:
                self.stats["outcomes_left_out"] += 1
                continue
            if not self.gate.changes_anything(outcome):
                self.stats["outcomes"] += 1  # (it would only mark its record: no call)
                continue
            groups.setdefault(generation(step.at, self.gate.ttls.decision_seconds),
                              (step.at, []))[1].append(outcome)
        for at, outcomes in groups.values():  # settled in the generation they were, live
            await self.gate.apply_outcomes(outcomes, at)
            self.stats["outcomes"] += len(outcomes)

    def figures(self) -> dict[str, Any]:
        return figures_of(self.comparison, self.span, self.span.warmup(self.gate), self.stats)


def figures_of(comparison: Comparison, span: Range, warmup_from: datetime,
               stats: dict[str, int]) -> dict[str, Any]:
    """A backtest's figures: the comparison's, the range, the replay's counts."""
    out = comparison.figures()
    out["range"] = {"from": span.start.isoformat(), "to": span.end.isoformat(),
                    "warmup_from": warmup_from.isoformat()}
    out["replay"] = dict(stats)
    return out
