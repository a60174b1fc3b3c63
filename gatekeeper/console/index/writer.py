"""The index's write path: a batch of topic messages -> rows, in one SQLite transaction with
the offsets they came from.

A block is on ``contact.decisions`` and on ``contact.review``: it is indexed once, by
(request hash, decision id), the record's copy winning (it carries ``via`` and the actor).
Review copies of decisions indexed lately are skipped before they are parsed. Counts per
hour, and the values the queue's filters can take, are kept as rows arrive.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Iterable
from typing import Any

from gatekeeper.console.index import IngestStats
from gatekeeper.console.index.rows import (
    FROM_DECISIONS,
    FROM_REVIEW,
    ActionRow,
    DecisionRow,
    EventRow,
    Message,
    OutcomeRow,
    request_hash,
    to_row,
)

HOUR = 3_600_000
RECENT = 200_000
DECISION_ID = re.compile(rb'"decision_id":\s*"([^"]+)"')
LOOKUP_CHUNK = 500


class Writer:
    """Writes batches into an index database; keeps two caches between batches (the debtors'
    regions, and the decision ids lately indexed from the record)."""

    def __init__(self) -> None:
        self._regions: dict[str, str | None] | None = None  # debtor -> region
        self._recent: dict[bytes, None] = {}
        self._rule_sets: dict[tuple[str, ...], tuple[str, list[str], list[str]]] = {}

    def ingest(self, db: sqlite3.Connection, messages: list[Message]) -> IngestStats:
        """Index a batch of messages and advance the offsets, in one transaction."""
        stats = IngestStats(messages=len(messages))
        rows: dict[type, list[Any]] = {DecisionRow: [], EventRow: [], OutcomeRow: [],
                                       ActionRow: []}
        # a block is on contact.decisions and on contact.review: read the record's copy
        # first, and skip the review copy unparsed when its decision id was just indexed
        reviews = [m for m in messages if m.kind == "review"]
        by_kind = stats.by_kind
        for message in itertools.chain((m for m in messages if m.kind != "review"), reviews):
            kind = message.kind
            by_kind[kind] = by_kind.get(kind, 0) + 1
            if kind == "review" and self._recent_copy(message.value):
                stats.duplicates += 1
                continue
            row = to_row(message)
            if row is None:
                stats.unreadable += 1
                continue
            if kind == "decisions":
                self._remember(row.decision_id)  # type: ignore[union-attr]
            rows[row.__class__].append(row)
        db.execute("BEGIN IMMEDIATE")
        try:
            self._ingest_rows(db, rows, stats)
            ends: dict[tuple[str, int], int] = {}
            for m in messages:
                ends[(m.topic, m.partition)] = max(ends.get((m.topic, m.partition), 0),
                                                   m.offset + 1)
            db.executemany("INSERT INTO offsets VALUES (?, ?, ?) ON CONFLICT (topic, partition)"
                           " DO UPDATE SET next = max(next, excluded.next)",
                           [(t, p, n) for (t, p), n in ends.items()])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._regions = None  # the caches may hold what was rolled back
            self._recent.clear()
            raise
        return stats

    def _ingest_rows(self, db: sqlite3.Connection, rows: dict[type, list[Any]],
                     stats: IngestStats) -> None:
        decisions: list[DecisionRow] = rows[DecisionRow]
        events: list[EventRow] = rows[EventRow]
        if events:
            self._events(db, events)
            stats.events = len(events)
        if decisions:
            self._decisions(db, decisions, stats)
        outcomes: list[OutcomeRow] = rows[OutcomeRow]
        if outcomes:
            db.executemany("INSERT INTO outcomes (ts, debtor_id, request_id, outcome, body) "
                           "VALUES (?, ?, ?, ?, ?)",
                           [(o.ts, o.debtor_id, o.request_id, o.outcome, o.body)
                            for o in outcomes])
            stats.outcomes = len(outcomes)
        actions: list[ActionRow] = rows[ActionRow]
        if actions:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO actions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [(a.seq, a.ts, request_hash(a.request_id), a.request_id,
                             a.debtor_id, a.action, a.actor, a.reason, a.body)
                            for a in actions])
            stats.actions = db.total_changes - before

    def _split(self, rules: tuple[str, ...]) -> tuple[str, list[str], list[str]]:
        """A block's rules -> its packs text, its tags ("r:<rule>", "p:<pack>") and its
        distinct rules (few combinations recur: kept)."""
        found = self._rule_sets.get(rules)
        if found is None:
            distinct = list(dict.fromkeys(rules))
            packs = sorted({rule.partition("/")[0] for rule in rules})
            found = (f" {' '.join(packs)} ", ["r:" + r for r in distinct] +
                     ["p:" + p for p in packs], distinct)
            if len(self._rule_sets) < 10_000:
                self._rule_sets[rules] = found
        return found

    def _recent_copy(self, value: bytes | None) -> bool:
        """The review copy of a decision indexed from contact.decisions not long ago."""
        found = DECISION_ID.search(value or b"")
        return found is not None and found.group(1) in self._recent

    def _remember(self, decision_id: str) -> None:
        recent = self._recent
        recent[decision_id.encode()] = None
        if len(recent) > RECENT:
            for key in list(itertools.islice(recent, RECENT // 10)):
                del recent[key]

    def _region_cache(self, db: sqlite3.Connection) -> dict[str, str | None]:
        if self._regions is None:
            self._regions = dict(db.execute("SELECT debtor_id, region FROM debtors"))
        return self._regions

    def _events(self, db: sqlite3.Connection, events: list[EventRow]) -> None:
        db.executemany("INSERT INTO events (ts, debtor_id, type, body) VALUES (?, ?, ?, ?)",
                       [(e.ts, e.debtor_id, e.type, e.body) for e in events])
        profiles = [e for e in events if e.type == "profile" and (e.region or e.timezone)]
        if not profiles:
            return
        db.executemany(
            "INSERT INTO debtors VALUES (?, ?, ?, ?) ON CONFLICT (debtor_id) DO UPDATE SET "
            "region = coalesce(excluded.region, region), "
            "timezone = coalesce(excluded.timezone, timezone), ts = excluded.ts "
            "WHERE excluded.ts >= ts",
            [(e.debtor_id, e.region, e.timezone, e.ts) for e in profiles])
        cache = self._region_cache(db)
        for e in profiles:
            if e.region:
                cache[e.debtor_id] = e.region

    def _decisions(self, db: sqlite3.Connection, rows: list[DecisionRow],
                   stats: IngestStats) -> None:
        known = self._known(db, {r.rid for r in rows})
        regions = self._region_cache(db)
        totals: dict[int, list[int]] = {}
        dims: dict[tuple[int, str], int] = {}
        hourly_rules: dict[tuple[int, str], int] = {}
        inserts: list[tuple[Any, ...]] = []
        tags: list[tuple[str, int, int]] = []
        upgrades = []
        next_id = (db.execute("SELECT max(id) FROM decisions").fetchone()[0] or 0) + 1
        for row in rows:
            key = (row.rid, row.decision_id)
            seen = known.get(key)
            if seen is not None:
                stats.duplicates += 1
                if seen[1] == FROM_REVIEW and row.source == FROM_DECISIONS:
                    upgrades.append((row.via, row.actor, FROM_DECISIONS, row.body, seen[0]))
                    known[key] = (seen[0], FROM_DECISIONS)
                continue
            ident = next_id
            next_id += 1
            known[key] = (ident, row.source)
            region = row.region or regions.get(row.debtor_id)
            hour = row.ts - row.ts % HOUR
            packs_text = None
            if row.rules:
                split = self._split(row.rules)
                packs_text = split[0]
                for tag in split[1]:
                    tags.append((tag, row.ts, ident))
                for rule in split[2]:
                    hourly_rules[(hour, rule)] = hourly_rules.get((hour, rule), 0) + 1
            blocked = 1 if row.decision == "blocked" else 0
            inserts.append((ident, row.ts, row.rid, row.request_id, row.debtor_id,
                            row.decision_id, blocked, row.via, row.actor, row.channel, region,
                            packs_text, row.source, row.body))
            counts = totals.setdefault(hour, [0, 0])
            counts[0] += 1
            if blocked:
                counts[1] += 1
                for dim in ("c:" + row.channel, "g:" + (region or "")):
                    dims[(hour, dim)] = dims.get((hour, dim), 0) + 1
        db.executemany("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       inserts)
        db.executemany("INSERT OR IGNORE INTO tags VALUES (?, ?, ?)", tags)
        db.executemany("UPDATE decisions SET via = ?, actor = ?, source = ? , body = ? "
                       "WHERE id = ?", upgrades)
        db.executemany("INSERT INTO hourly_totals VALUES (?, ?, ?) ON CONFLICT DO UPDATE "
                       "SET total = total + excluded.total, blocked = blocked + excluded.blocked",
                       [(hour, t, b) for hour, (t, b) in totals.items()])
        db.executemany("INSERT INTO hourly_dims VALUES (?, ?, ?) ON CONFLICT DO UPDATE "
                       "SET n = n + excluded.n", [(*k, n) for k, n in dims.items()])
        values = {dim for _, dim in dims} | {tag for tag, _, _ in tags}
        db.executemany("INSERT OR IGNORE INTO dims VALUES (?)", [(d,) for d in values])
        db.executemany("INSERT INTO hourly_rules VALUES (?, ?, ?) ON CONFLICT DO UPDATE "
                       "SET n = n + excluded.n", [(*k, n) for k, n in hourly_rules.items()])
        stats.decisions += len(inserts)

    def _known(self, db: sqlite3.Connection, rids: Iterable[int]
               ) -> dict[tuple[int, str], tuple[int, int]]:
        """(rid, decision id) -> (row id, source) of the rows already indexed."""
        found: dict[tuple[int, str], tuple[int, int]] = {}
        wanted = list(rids)
        for at in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[at:at + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            for ident, rid, decision_id, source in db.execute(
                    f"SELECT id, rid, decision_id, source FROM decisions WHERE rid IN ({marks})",
                    chunk):
                found[(rid, decision_id)] = (ident, source)
        return found
