"""PURE: the record of a time range -> the report's figures (JSON-ready).

Volumes and block rates by rule, channel, region and the debtor's local hour; contact
outcomes by channel x local hour x stage (attempts: allowed contacts; reported: those with
an outcome; answered: a conversation, a voicemail or a delivered message; conversations:
right-party contacts), each rate with a 95 % Wilson interval; the best local hours per
channel and stage; and which debtors answer one channel but not another.

The local hour is the decision's time in the debtor's primary zone (the request's, else
the profile's, else the phone number's); the stage is the days-past-due band the request
(else the latest profile) gives.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gatekeeper.analytics.dimensions import (
    ANSWERED,
    CONVERSATION,
    STAGE_NAMES,
    UNKNOWN,
    Profiles,
    local_hour,
    primary_zone,
    stage_of,
)
from gatekeeper.analytics.entries import DECISION, EVENT, Decided, Entry, parse_items
from gatekeeper.model import CHANNELS, ContactOutcome, DebtorEvent
from gatekeeper.timebounds import DEFAULT_BOUNDS, TimeBounds

if TYPE_CHECKING:  # (record_reader is the Kafka side: this module stays pure)
    from gatekeeper.record_reader import Item

Z95 = 1.959964
BEST_MIN_REPORTED = 10  # an hour needs this many reported contacts to be ranked
BEST_HOURS = 3
ANSWERS_MIN_CONVERSATIONS, ANSWERS_MIN_RATE = 2, 0.25
IGNORES_MIN_REPORTED = 3
AFFINITY_IDS = 10_000  # debtor ids listed per pair in the JSON


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (0, 1 when there are no trials)."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - spread), min(1.0, centre + spread)


@dataclass(slots=True)
class Cell:
    attempts: int = 0
    reported: int = 0
    answered: int = 0
    conversations: int = 0

    def add(self, other: Cell) -> None:
        self.attempts += other.attempts
        self.reported += other.reported
        self.answered += other.answered
        self.conversations += other.conversations

    def figures(self) -> dict[str, Any]:
        low, high = wilson(self.conversations, self.reported)
        answered_low, answered_high = wilson(self.answered, self.reported)
        rate = self.conversations / self.reported if self.reported else None
        return {"attempts": self.attempts, "reported": self.reported,
                "answered": self.answered, "conversations": self.conversations,
                "answer_rate": self.answered / self.reported if self.reported else None,
                "answer_ci": [answered_low, answered_high],
                "rpc_rate": rate, "rpc_ci": [low, high]}


@dataclass(frozen=True, slots=True)
class Placed:
    """An allowed contact of the range, waiting for its outcome."""

    debtor: str
    channel: str
    hour: int | None
    stage: str


class Tally:
    def __init__(self) -> None:
        self.requests = 0
        self.allowed = 0
        self.blocked = 0

    def add(self, allowed: bool) -> None:
        self.requests += 1
        self.allowed += allowed
        self.blocked += not allowed

    def figures(self) -> dict[str, Any]:
        return {"requests": self.requests, "allowed": self.allowed, "blocked": self.blocked,
                "block_rate": self.blocked / self.requests if self.requests else None}


class Report:
    def __init__(self, start: datetime, end: datetime):
        self.start, self.end = start, end
        self.profiles = Profiles()
        self.total = Tally()
        self.debtors: set[str] = set()
        self.days: dict[str, Tally] = defaultdict(Tally)
        self.channels: dict[str, Tally] = defaultdict(Tally)
        self.regions: dict[str, Tally] = defaultdict(Tally)
        self.hours: dict[str, Tally] = defaultdict(Tally)
        self.rules: Counter[str] = Counter()
        self.placed: dict[str, Placed] = {}
        self.cells: dict[tuple[str, int | None, str], Cell] = defaultdict(Cell)
        self.debtor_channels: dict[str, dict[str, list[int]]] = defaultdict(
            lambda: defaultdict(lambda: [0, 0]))  # debtor -> channel -> [reported, convs]
        self.outcomes = 0
        self.policies: Counter[str] = Counter()
        self.skipped = 0

    def add_items(self, items: Iterable[Item], bounds: TimeBounds = DEFAULT_BOUNDS) -> int:
        """Add the record's messages of one partition group; the decisions read."""
        parsed = parse_items(items, bounds)
        self.skipped += parsed.skipped
        read = 0
        for entry in parsed.entries:
            self.add(entry)
            read += entry.order == DECISION
        return read

    def add(self, entry: Entry) -> None:
        if entry.order == EVENT:
            assert isinstance(entry.value, DebtorEvent)
            self.profiles.apply(entry.value)
        elif entry.order == DECISION:
            assert isinstance(entry.value, Decided)
            if self.start <= entry.at < self.end:
                self._decision(entry.at, entry.value)
        else:
            assert isinstance(entry.value, ContactOutcome)
            self._outcome(entry.value)

    def _decision(self, at: datetime, decided: Decided) -> None:
        request, decision = decided.request, decided.decision
        profile = self.profiles.of(request)
        zone_name = primary_zone(request.channel, request.destination,
                                 request.debtor.timezone, profile.timezone)
        hour = local_hour(at, zone_name)
        allowed = decision["decision"] == "allowed"
        self.policies[str(decision.get("policy", ""))] += 1
        self.debtors.add(request.debtor_id)
        for tally in (self.total, self.days[at.date().isoformat()],
                      self.channels[request.channel], self.regions[profile.region or UNKNOWN],
                      self.hours[UNKNOWN if hour is None else f"{hour:02d}"]):
            tally.add(allowed)
        for rule in {reason["rule"] for reason in decision.get("reasons") or ()}:
            self.rules[rule] += 1
        if allowed:
            stage = stage_of(profile.days_past_due)
            self.placed[request.request_id] = Placed(request.debtor_id, request.channel, hour,
                                                     stage)
            self.cells[(request.channel, hour, stage)].attempts += 1

    def _outcome(self, outcome: ContactOutcome) -> None:
        placed = self.placed.pop(outcome.request_id, None)  # the first outcome settles it
        if placed is None:
            return  # a contact outside the range, or reported twice
        self.outcomes += 1
        cell = self.cells[(placed.channel, placed.hour, placed.stage)]
        cell.reported += 1
        cell.answered += outcome.outcome in ANSWERED
        talked = outcome.outcome == CONVERSATION
        cell.conversations += talked
        counts = self.debtor_channels[placed.debtor][placed.channel]
        counts[0] += 1
        counts[1] += talked

    # ------------------------------------------------------------------ figures
    def figures(self) -> dict[str, Any]:
        requests = self.total.requests or 1
        return {
            "range": {"from": self.start.isoformat(), "to": self.end.isoformat()},
            "totals": {**self.total.figures(), "debtors": len(self.debtors),
                       "outcomes": self.outcomes},
            "policies": dict(self.policies.most_common()),
            "daily": [{"date": day, **tally.figures()}
                      for day, tally in sorted(self.days.items())],
            "by_rule": [{"rule": rule, "blocked": count, "share_of_requests": count / requests}
                        for rule, count in self.rules.most_common()],
            "by_channel": _rows(self.channels, "channel", CHANNELS),
            "by_region": _rows(self.regions, "region", sorted(self.regions)),
            "by_hour": _rows(self.hours, "hour", [f"{h:02d}" for h in range(24)] + [UNKNOWN]),
            "outcomes": self._outcome_figures(),
            "best_hours": self._best_hours(),
            "channel_affinity": self._affinity(),
        }

    def _outcome_figures(self) -> dict[str, Any]:
        by_channel_stage: dict[tuple[str, str], Cell] = defaultdict(Cell)
        by_channel_hour: dict[tuple[str, int | None], Cell] = defaultdict(Cell)
        for (channel, hour, stage), cell in self.cells.items():
            by_channel_stage[(channel, stage)].add(cell)
            by_channel_hour[(channel, hour)].add(cell)
        return {
            "cells": [{"channel": c, "hour": h, "stage": s, **cell.figures()}
                      for (c, h, s), cell in sorted(self.cells.items(), key=_cell_order)],
            "by_channel_stage": [{"channel": c, "stage": s, **cell.figures()}
                                 for (c, s), cell in sorted(
                                     by_channel_stage.items(),
                                     key=lambda kv: (_channel_rank(kv[0][0]),
                                                     STAGE_NAMES.index(kv[0][1])))],
            "by_channel_hour": [{"channel": c, "hour": h, **cell.figures()}
                                for (c, h), cell in sorted(
                                    by_channel_hour.items(),
                                    key=lambda kv: (_channel_rank(kv[0][0]),
                                                    -1 if kv[0][1] is None else kv[0][1]))],
        }

    def _best_hours(self) -> list[dict[str, Any]]:
        groups: dict[tuple[str, str], list[tuple[int, Cell]]] = defaultdict(list)
        for (channel, hour, stage), cell in self.cells.items():
            if hour is not None:
                groups[(channel, stage)].append((hour, cell))
        out = []
        for (channel, stage), hours in sorted(groups.items(), key=lambda kv: (
                _channel_rank(kv[0][0]), STAGE_NAMES.index(kv[0][1]))):
            total = Cell()
            for _, cell in hours:
                total.add(cell)
            ranked = sorted(((wilson(c.conversations, c.reported)[0], hour, c)
                             for hour, c in hours if c.reported >= BEST_MIN_REPORTED),
                            key=lambda t: (-t[0], t[1]))
            if not ranked:
                continue
            out.append({"channel": channel, "stage": stage, "reported": total.reported,
                        "rpc_rate": total.figures()["rpc_rate"],
                        "hours": [{"hour": hour, **c.figures()}
                                  for _, hour, c in ranked[:BEST_HOURS]]})
        return out

    def _affinity(self) -> dict[str, Any]:
        pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
        for debtor, channels in sorted(self.debtor_channels.items()):
            answers = [c for c, (reported, talked) in channels.items()
                       if talked >= ANSWERS_MIN_CONVERSATIONS
                       and talked / reported >= ANSWERS_MIN_RATE]
            ignores = [c for c, (reported, talked) in channels.items()
                       if reported >= IGNORES_MIN_REPORTED and talked == 0]
            for answered in answers:
                for ignored in ignores:
                    pairs[(answered, ignored)].append(debtor)
        return {
            "definition": (f"answers a channel: at least {ANSWERS_MIN_CONVERSATIONS} "
                           f"conversations and a conversation rate of at least "
                           f"{ANSWERS_MIN_RATE:.0%} on it; ignores a channel: at least "
                           f"{IGNORES_MIN_REPORTED} reported contacts on it and no "
                           "conversation"),
            "debtors_with_outcomes": len(self.debtor_channels),
            "pairs": [{"answers": a, "ignores": i, "debtors": len(ids),
                       "debtor_ids": ids[:AFFINITY_IDS]}
                      for (a, i), ids in sorted(pairs.items(), key=lambda kv: -len(kv[1]))],
        }


def _channel_rank(channel: str) -> int:
    return CHANNELS.index(channel) if channel in CHANNELS else len(CHANNELS)


def _cell_order(kv: tuple[tuple[str, int | None, str], Cell]) -> tuple[int, int, int]:
    (channel, hour, stage), _ = kv
    return _channel_rank(channel), STAGE_NAMES.index(stage), -1 if hour is None else hour


def _rows(tallies: dict[str, Tally], name: str, order: list[str] | tuple[str, ...]
          ) -> list[dict[str, Any]]:
    keys = [k for k in order if k in tallies] + [k for k in tallies if k not in order]
    return [{name: key, **tallies[key].figures()} for key in keys]
