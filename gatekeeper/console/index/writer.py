"""The index's write path: a parsed batch (``parsing.py``) -> rows, in one SQLite transaction
with the offsets they came from.

A block is on ``contact.decisions`` and on ``contact.review``: it is indexed once, by
(request hash, decision id), the record's copy winning (it carries ``via`` and the actor).
Counts per hour, and the values the queue's filters can take, are kept as rows arrive.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from gatekeeper.console.index import IngestStats
from gatekeeper.console.index.parsing import HOUR, Parsed, ParseState, items_of, parse
from gatekeeper.console.index.rows import FROM_DECISIONS, FROM_REVIEW, Message

__all__ = ["HOUR", "Writer"]
LOOKUP_CHUNK = 500


class Writer:
    """Writes batches into an index database; keeps the debtors' regions between batches, and
    the state of an inline parse (``ingest``)."""

    def __init__(self) -> None:
        self._regions: dict[str, str | None] | None = None  # debtor -> region
        self._parse = ParseState()

    def ingest(self, db: sqlite3.Connection, messages: list[Message]) -> IngestStats:
        """Parse a batch here, then ``write`` it."""
        try:
            return self.write(db, parse(items_of(messages), self._parse))
        except BaseException:
            self._parse = ParseState()  # it may remember what was rolled back
            raise

    def write(self, db: sqlite3.Connection, parsed: Parsed, *, commit: bool = True
              ) -> IngestStats:
        """Index a parsed batch and advance the offsets, in the transaction left open by the
        batches before (``commit=False``), or a new one; ``commit`` ends it. A failure rolls
        back every batch of the transaction, with their offsets."""
        stats = IngestStats(messages=parsed.messages, duplicates=parsed.duplicates,
                            unreadable=parsed.unreadable, by_kind=parsed.by_kind)
        if not db.in_transaction:
            db.execute("BEGIN IMMEDIATE")
        try:
            self._write_rows(db, parsed, stats)
            db.executemany("INSERT INTO offsets VALUES (?, ?, ?) ON CONFLICT (topic, partition)"
                           " DO UPDATE SET next = max(next, excluded.next)",
                           [(t, p, n) for (t, p), n in parsed.ends.items()])
            if commit:
                db.execute("COMMIT")
        except BaseException:
            self.rollback(db)
            raise
        return stats

    def commit(self, db: sqlite3.Connection) -> None:
        """End the open transaction, if any (its batches are each whole, with offsets)."""
        if db.in_transaction:
            try:
                db.execute("COMMIT")
            except BaseException:
                self.rollback(db)
                raise

    def rollback(self, db: sqlite3.Connection) -> None:
        if db.in_transaction:
            db.execute("ROLLBACK")
        self._regions = None  # the cache may hold what was rolled back

    def _write_rows(self, db: sqlite3.Connection, parsed: Parsed, stats: IngestStats) -> None:
        if parsed.events:
            self._events(db, parsed)
            stats.events = len(parsed.events)
        if parsed.decisions:
            self._decisions(db, parsed.decisions, parsed.values, stats)
        if parsed.outcomes:
            values = parsed.values
            db.executemany("INSERT INTO outcomes (ts, debtor_id, request_id, outcome, body) "
                           "VALUES (?, ?, ?, ?, ?)", [(*o[:4], values[o[4]])
                                                      for o in parsed.outcomes])
            stats.outcomes = len(parsed.outcomes)
        if parsed.actions:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO actions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [(*a[:8], parsed.values[a[8]]) for a in parsed.actions])
            stats.actions = db.total_changes - before

    def _region_cache(self, db: sqlite3.Connection) -> dict[str, str | None]:
        if self._regions is None:
            self._regions = dict(db.execute("SELECT debtor_id, region FROM debtors"))
        return self._regions

    def _events(self, db: sqlite3.Connection, parsed: Parsed) -> None:
        values = parsed.values
        db.executemany("INSERT INTO events (ts, debtor_id, type, body) VALUES (?, ?, ?, ?)",
                       [(*e[:3], values[e[3]]) for e in parsed.events])
        if not parsed.profiles:
            return
        db.executemany(
            "INSERT INTO debtors VALUES (?, ?, ?, ?) ON CONFLICT (debtor_id) DO UPDATE SET "
            "region = coalesce(excluded.region, region), "
            "timezone = coalesce(excluded.timezone, timezone), ts = excluded.ts "
            "WHERE excluded.ts >= ts", parsed.profiles)
        cache = self._region_cache(db)
        for debtor_id, region, _, _ in parsed.profiles:
            if region:
                cache[debtor_id] = region

    def _decisions(self, db: sqlite3.Connection, rows: list[Any], values: list[bytes],
                   stats: IngestStats) -> None:
        known = self._known(db, {r[1] for r in rows})
        regions = self._region_cache(db)
        totals: dict[int, list[int]] = {}
        dims: dict[tuple[int, str], int] = {}
        hourly_rules: dict[tuple[int, str], int] = {}
        inserts: list[tuple[Any, ...]] = []
        tags: list[tuple[str, int, int]] = []
        upgrades = []
        next_id = (db.execute("SELECT max(id) FROM decisions").fetchone()[0] or 0) + 1
        for (ts, rid, request_id, debtor_id, decision_id, blocked, via, actor, channel, region,
             packs, source, place, hour, row_tags, rules, pos) in rows:
            key = (rid, decision_id)
            seen = known.get(key)
            if seen is not None:
                stats.duplicates += 1
                if seen[1] == FROM_REVIEW and source == FROM_DECISIONS:
                    upgrades.append((via, actor, FROM_DECISIONS, values[place], pos, seen[0]))
                    known[key] = (seen[0], FROM_DECISIONS)
                continue
            ident = next_id
            next_id += 1
            known[key] = (ident, source)
            if region is None:
                region = regions.get(debtor_id)
            for tag in row_tags:
                tags.append((tag, ts, ident))
            for rule in rules:
                hourly_rules[(hour, rule)] = hourly_rules.get((hour, rule), 0) + 1
            inserts.append((ident, ts, rid, request_id, debtor_id, decision_id, blocked, via,
                            actor, channel, region, packs, source, values[place], pos))
            counts = totals.get(hour)
            if counts is None:
                counts = totals[hour] = [0, 0]
            counts[0] += 1
            if blocked:
                counts[1] += 1
                for dim in ("c:" + channel, "g:" + (region or "")):
                    dims[(hour, dim)] = dims.get((hour, dim), 0) + 1
        db.executemany("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       inserts)
        db.executemany("INSERT OR IGNORE INTO tags VALUES (?, ?, ?)", tags)
        db.executemany("UPDATE decisions SET via = ?, actor = ?, source = ?, body = ?, pos = ? "
                       "WHERE id = ?", upgrades)
        db.executemany("INSERT INTO hourly_totals VALUES (?, ?, ?) ON CONFLICT DO UPDATE "
                       "SET total = total + excluded.total, blocked = blocked + excluded.blocked",
                       [(hour, t, b) for hour, (t, b) in totals.items()])
        db.executemany("INSERT INTO hourly_dims VALUES (?, ?, ?) ON CONFLICT DO UPDATE "
                       "SET n = n + excluded.n", [(*k, n) for k, n in dims.items()])
        found = {dim for _, dim in dims} | {tag for tag, _, _ in tags}
        db.executemany("INSERT OR IGNORE INTO dims VALUES (?)", [(d,) for d in found])
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
