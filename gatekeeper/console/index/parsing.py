"""The ingest's first half: a batch of topic messages -> the rows the writer inserts, as plain
tuples (cheap to pickle). ``Parser`` runs it in a process of its own, so that a batch is
parsed on one core while the index writes the previous one on the other (a second thread
would not do: ``sqlite3`` gives up the GIL for each row and then waits for the parsing thread
to give it back). ``SqliteIndex.ingest`` runs the same function inline.

A block is on ``contact.decisions`` and on ``contact.review``: the parse reads the record's
copies of a batch first and skips, unparsed, a review copy whose decision id it read lately
(``ParseState``: kept by the process that parses, in order); the writer still finds any
other duplicate by (request hash, decision id).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import multiprocessing
import pickle
import re
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gatekeeper.console.index.rows import (
    FROM_DECISIONS,
    ActionRow,
    DecisionRow,
    EventRow,
    Message,
    OutcomeRow,
    request_hash,
    to_row,
)

HOUR = 3_600_000
RECENT = 200_000  # decision ids remembered to skip their review copies
DECISION_ID = re.compile(rb'"decision_id":\s*"([^"]+)"')

Item = tuple[str, str, int, int, int, bytes | None]  # kind, topic, partition, offset, time, value
# a decision: ts, rid, request_id, debtor_id, decision_id, blocked, via, actor, channel,
# region (None: the debtor's profile may know it), packs text, source, the message's place in
# the batch (its value is the row's body), hour, tags ("r:<rule>", "p:<pack>"), distinct rules,
# its offset on contact.decisions (None for a review copy)
DecisionTuple = tuple[int, int, str, str, str, int, str, str | None, str, str | None,
                      str | None, int, int, int, list[str], list[str], int | None]


@dataclass(slots=True)
class Parsed:
    """A parsed batch: rows as the writer inserts them (each one's last field the place of
    its message in the batch: the values, the rows' bodies, do not travel back from the
    parsing process), and what the parse counted."""

    messages: int = 0
    decisions: list[DecisionTuple] = field(default_factory=list)
    events: list[tuple[int, str, str, int]] = field(default_factory=list)
    profiles: list[tuple[str, str | None, str | None, int]] = field(default_factory=list)
    outcomes: list[tuple[int, str, str, str, int]] = field(default_factory=list)
    actions: list[tuple[int, int, int, str, str, str, str, str, int]] = \
        field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0  # review copies skipped
    unreadable: int = 0
    ends: dict[tuple[str, int], int] = field(default_factory=dict)  # next offset to read
    values: list[bytes] = field(default_factory=list)  # the messages' values (not pickled)

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.messages, self.decisions, self.events, self.profiles, self.outcomes,
                self.actions, self.by_kind, self.duplicates, self.unreadable, self.ends)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (self.messages, self.decisions, self.events, self.profiles, self.outcomes,
         self.actions, self.by_kind, self.duplicates, self.unreadable, self.ends) = state
        self.values = []


class ParseState:
    """What the parse keeps between batches: the decision ids read lately, each rule
    combination's packs and tags, and one copy of each recurring short string (pickled once
    per batch, not once per row)."""

    def __init__(self) -> None:
        self.recent: dict[bytes, None] = {}
        self.rule_sets: dict[tuple[str, ...], tuple[str, list[str], list[str]]] = {}
        self.words: dict[str, str] = {}

    def split(self, rules: tuple[str, ...]) -> tuple[str, list[str], list[str]]:
        """A block's rules -> its packs text, its tags and its distinct rules."""
        found = self.rule_sets.get(rules)
        if found is None:
            distinct = list(dict.fromkeys(rules))
            packs = sorted({rule.partition("/")[0] for rule in rules})
            found = (f" {' '.join(packs)} ", ["r:" + r for r in distinct] +
                     ["p:" + p for p in packs], distinct)
            if len(self.rule_sets) < 10_000:
                self.rule_sets[rules] = found
        return found

    def word(self, text: str | None) -> str | None:
        if text is None:
            return None
        found = self.words.get(text)
        if found is None:
            found = text
            if len(self.words) < 10_000:
                self.words[text] = text
        return found

    def recent_copy(self, value: bytes | None) -> bool:
        """The review copy of a decision read from contact.decisions not long ago."""
        found = DECISION_ID.search(value or b"")
        return found is not None and found.group(1) in self.recent

    def remember(self, decision_id: str) -> None:
        recent = self.recent
        recent[decision_id.encode()] = None
        if len(recent) > RECENT:
            for key in list(itertools.islice(recent, RECENT // 10)):
                del recent[key]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile: a batch allocates a few hundred thousand
    acyclic objects (the decoded messages), which made the collector run over and over (15 %
    of the ingest's time in a profile); reference counting frees them all."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def items_of(messages: list[Message]) -> list[Item]:
    return [(m.kind, m.topic, m.partition, m.offset, m.timestamp, m.value) for m in messages]


def parse(items: list[Item], state: ParseState) -> Parsed:
    """A batch of messages -> its rows (record copies first, then the review copies)."""
    parsed = Parsed(messages=len(items))
    by_kind = parsed.by_kind
    ends = parsed.ends
    reviews = []
    parsed.values = [item[5] or b"" for item in items]
    for place, item in enumerate(items):
        kind = item[0]
        by_kind[kind] = by_kind.get(kind, 0) + 1
        partition = (item[1], item[2])
        if ends.get(partition, -1) <= item[3]:
            ends[partition] = item[3] + 1
        if kind == "review":
            reviews.append(place)
        else:
            _add(parsed, item, place, state)
    for place in reviews:
        item = items[place]
        if state.recent_copy(item[5]):
            parsed.duplicates += 1
        else:
            _add(parsed, item, place, state)
    return parsed


def _add(parsed: Parsed, item: Item, place: int, state: ParseState) -> None:
    kind, topic, partition, offset, timestamp, value = item
    row = to_row(Message(kind, topic, partition, offset, timestamp, None, value))
    if row is None:
        parsed.unreadable += 1
    elif isinstance(row, DecisionRow):
        _decision(parsed, row, place, offset, state)
    elif isinstance(row, EventRow):
        parsed.events.append((row.ts, row.debtor_id, row.type, place))
        if row.type == "profile" and (row.region or row.timezone):
            parsed.profiles.append((row.debtor_id, row.region, row.timezone, row.ts))
    elif isinstance(row, OutcomeRow):
        parsed.outcomes.append((row.ts, row.debtor_id, row.request_id, row.outcome, place))
    elif isinstance(row, ActionRow):
        parsed.actions.append((row.seq, row.ts, request_hash(row.request_id), row.request_id,
                               row.debtor_id, row.action, row.actor, row.reason, place))


def _decision(parsed: Parsed, row: DecisionRow, place: int, offset: int,
              state: ParseState) -> None:
    pos: int | None = None
    if row.source == FROM_DECISIONS:
        state.remember(row.decision_id)
        pos = offset
    packs: str | None = None
    tags: list[str] = []
    rules: list[str] = []
    if row.rules:
        packs, tags, rules = state.split(row.rules)
    word = state.word
    parsed.decisions.append((
        row.ts, row.rid, row.request_id, row.debtor_id, row.decision_id,
        1 if row.decision == "blocked" else 0, word(row.via) or "", word(row.actor),
        word(row.channel) or "", word(row.region), packs, row.source, place,
        row.ts - row.ts % HOUR, tags, rules, pos))


# ---------------------------------------------------------------- in a process of its own
_STATE: ParseState | None = None


def _start() -> None:
    global _STATE  # noqa: PLW0603 - the parsing process's one state
    _STATE = ParseState()


def _parse_here(items: list[Item]) -> bytes:
    assert _STATE is not None
    with collector_paused():
        return pickle.dumps(parse(items, _STATE), protocol=pickle.HIGHEST_PROTOCOL)


def loads(parsed: bytes, messages: list[Message]) -> Parsed:
    """A batch parsed by ``Parser``, with its messages' values (call with the collector
    paused: it makes a few hundred thousand objects)."""
    found: Parsed = pickle.loads(parsed)
    found.values = [m.value or b"" for m in messages]
    return found


class Parser:
    """Parses batches in order in one process of its own (spawned, not forked: the console's
    process runs threads). ``restart`` forgets its state (after a batch failed to be written:
    the consumer reads again from the stored offsets)."""

    def __init__(self) -> None:
        self._pool = self._new_pool()

    @staticmethod
    def _new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=1, initializer=_start,
                                   mp_context=multiprocessing.get_context("spawn"))

    def submit(self, messages: list[Message]) -> Future[bytes]:
        """The batch parsed and pickled (``loads`` reads it)."""
        return self._pool.submit(_parse_here, items_of(messages))

    def restart(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._new_pool()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
