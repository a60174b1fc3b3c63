"""The decision index in SQLite (stdlib, WAL): one writer, any number of readers.

Why SQLite and not DuckDB: the console's queries are mostly "the newest 50 rows matching
these filters" and "everything of one debtor", which B-tree indexes answer in milliseconds
however large the table; the one aggregate (counts per hour) is kept as rows arrive, so it
never scans. DuckDB answers scans and aggregates faster, but keeps one writing process per
file (the CLI could not read while the console writes), and its indexes make row-at-a-time
inserts and point lookups slower. SQLite ships with Python, so a fresh clone needs nothing.

Each thread gets its own connection (sqlite3 connections are not shared across threads);
``ingest`` must be called from one thread at a time (the consumer's).
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from gatekeeper.console.index import (
    Cursor,
    DecisionView,
    IngestStats,
    Overview,
    QueueFilter,
    QueueItem,
    QueuePage,
    TimelineItem,
)
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
from gatekeeper.errors import GatekeeperError

HOUR = 3_600_000
RECENT = 200_000
DECISION_ID = re.compile(rb'"decision_id":\s*"([^"]+)"')
SCHEMA_VERSION = "2"
LOOKUP_CHUNK = 500


class IndexSchemaError(GatekeeperError):
    """An index file written by another version of the console."""


class SqliteIndex:
    def __init__(self, path: Path | str, *, cache_mib: int = 512):
        self.path = str(path)
        self.cache_mib = cache_mib
        self._local = threading.local()
        self._regions: dict[str, str | None] | None = None  # debtor -> region (writer)
        self._recent: dict[bytes, None] = {}  # decision ids lately indexed from the record
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = self._db()
        schema = resources.files("gatekeeper.console.index").joinpath("schema.sql").read_text()
        db.executescript(schema)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        (found,) = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if found != SCHEMA_VERSION:
            raise IndexSchemaError(f"{self.path}: index schema {found}, expected "
                                   f"{SCHEMA_VERSION}: rebuild it from the topics "
                                   "(gatekeeper console --rebuild)")

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            # no fsync: the index is a copy of the topics (an OS crash may cost a rebuild,
            # `gatekeeper console --rebuild`); with fsyncs, ingest ran at half the rate
            db.execute("PRAGMA synchronous=OFF")
            db.execute(f"PRAGMA cache_size=-{self.cache_mib * 1024}")
            db.execute("PRAGMA temp_store=MEMORY")
            db.execute("PRAGMA mmap_size=1073741824")
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # ------------------------------------------------------------------------ ingest
    def ingest(self, messages: list[Message]) -> IngestStats:
        """Index a batch of messages and advance the offsets, in one transaction."""
        stats = IngestStats(messages=len(messages))
        rows = []
        # a block is on contact.decisions and on contact.review: read the record's copy
        # first, and skip the review copy unparsed when its decision id was just indexed
        ordered = sorted(messages, key=lambda m: m.kind == "review")
        for message in ordered:
            stats.by_kind[message.kind] = stats.by_kind.get(message.kind, 0) + 1
            if message.kind == "review" and self._recent_copy(message.value):
                stats.duplicates += 1
                continue
            row = to_row(message)
            if isinstance(row, DecisionRow) and row.source == FROM_DECISIONS:
                self._remember(row.decision_id)
            if row is None:
                stats.unreadable += 1
            else:
                rows.append(row)
        db = self._db()
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

    def _ingest_rows(self, db: sqlite3.Connection, rows: Sequence[Any],
                     stats: IngestStats) -> None:
        decisions = [r for r in rows if isinstance(r, DecisionRow)]
        events = [r for r in rows if isinstance(r, EventRow)]
        if events:
            self._events(db, events)
            stats.events = len(events)
        if decisions:
            self._decisions(db, decisions, stats)
        outcomes = [r for r in rows if isinstance(r, OutcomeRow)]
        if outcomes:
            db.executemany("INSERT INTO outcomes (ts, debtor_id, request_id, outcome, body) "
                           "VALUES (?, ?, ?, ?, ?)",
                           [(o.ts, o.debtor_id, o.request_id, o.outcome, o.body)
                            for o in outcomes])
            stats.outcomes = len(outcomes)
        actions = [r for r in rows if isinstance(r, ActionRow)]
        if actions:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO actions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [(a.seq, a.ts, request_hash(a.request_id), a.request_id,
                             a.debtor_id, a.action, a.actor, a.reason, a.body)
                            for a in actions])
            stats.actions = db.total_changes - before

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
                packs = sorted({rule.partition("/")[0] for rule in row.rules})
                packs_text = f" {' '.join(packs)} "
                for rule in dict.fromkeys(row.rules):
                    tags.append(("r:" + rule, row.ts, ident))
                    hourly_rules[(hour, rule)] = hourly_rules.get((hour, rule), 0) + 1
                for pack in packs:
                    tags.append(("p:" + pack, row.ts, ident))
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

    def offsets(self) -> dict[tuple[str, int], int]:
        return {(t, p): n for t, p, n in self._db().execute("SELECT * FROM offsets")}

    # ------------------------------------------------------------------------ queue
    def _queue_sql(self, filters: QueueFilter) -> tuple[str, list[Any]]:
        where: list[str] = ["d.blocked = 1"]
        args: list[Any] = []
        source = "decisions d"
        tag = f"r:{filters.rule}" if filters.rule else f"p:{filters.pack}" if filters.pack \
            else None
        if tag is not None:
            source = "tags t JOIN decisions d ON d.id = t.decision"
            where.append("t.tag = ?")
            args.append(tag)
            if filters.rule and filters.pack:
                where.append("d.packs LIKE ?")
                args.append(f"% {filters.pack} %")
        time_column = "t.ts" if tag is not None else "d.ts"
        for column, value in (("d.channel", filters.channel), ("d.region", filters.region),
                              ("d.debtor_id", filters.debtor)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if filters.since is not None:
            where.append(f"{time_column} >= ?")
            args.append(filters.since)
        if filters.until is not None:
            where.append(f"{time_column} < ?")
            args.append(filters.until)
        released = "EXISTS (SELECT 1 FROM actions a WHERE a.rid = d.rid AND " \
                   "a.request_id = d.request_id AND a.action = 'release')"
        handled = "EXISTS (SELECT 1 FROM actions a WHERE a.rid = d.rid AND " \
                  "a.request_id = d.request_id)"
        if filters.status == "open":
            where.append(f"NOT {handled}")
        elif filters.status == "released":
            where.append(released)
        elif filters.status == "acknowledged":
            where.append(f"{handled} AND NOT {released}")
        return (f"SELECT d.id, d.ts, d.request_id, d.debtor_id, d.channel, d.region, d.rid, "
                f"d.body FROM {source} WHERE {' AND '.join(where)}", args)

    def queue(self, filters: QueueFilter, *, before: Cursor | None = None,
              limit: int = 50) -> QueuePage:
        sql, args = self._queue_sql(filters)
        order = "t.ts DESC, t.decision DESC" if " t " in sql or "tags t" in sql \
            else "d.ts DESC, d.id DESC"
        if before is not None:
            column = "t.ts" if "tags t" in sql else "d.ts"
            sql += f" AND ({column}, d.id) < (?, ?)"
            args += [before.ts, before.id]
        rows = self._db().execute(f"{sql} ORDER BY {order} LIMIT ?", [*args, limit + 1]
                                  ).fetchall()
        items = self._items(rows[:limit])
        older = Cursor(items[-1].ts, items[-1].id) if len(rows) > limit and items else None
        return QueuePage(items, older, self.newest_id())

    def queue_since(self, filters: QueueFilter, after_id: int, *,
                    limit: int = 100) -> QueuePage:
        """Blocks indexed after ``after_id`` that match, newest first."""
        sql, args = self._queue_sql(filters)
        rows = self._db().execute(f"{sql} AND d.id > ? ORDER BY d.id DESC LIMIT ?",
                                  [*args, after_id, limit]).fetchall()
        return QueuePage(self._items(rows), None, self.newest_id())

    def newest_id(self) -> int:
        return int(self._db().execute("SELECT coalesce(max(id), 0) FROM decisions"
                                      ).fetchone()[0])

    def _items(self, rows: list[Any]) -> list[QueueItem]:
        states = self._states({(r[6], r[2]) for r in rows})
        return [QueueItem(r[0], r[1], r[2], r[3], r[4], r[5], states.get(r[2], "open"),
                          orjson.loads(r[7])) for r in rows]

    def _states(self, keys: set[tuple[int, str]]) -> dict[str, str]:
        """request id -> acknowledged | released, for those acted on."""
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        out: dict[str, str] = {}
        for request_id, action in self._db().execute(
                f"SELECT request_id, action FROM actions WHERE rid IN ({marks})",
                [rid for rid, _ in keys]):
            if (request_hash(request_id), request_id) not in keys:
                continue
            if action == "release" or request_id not in out:
                out[request_id] = "released" if action == "release" else "acknowledged"
        return out

    # ------------------------------------------------------------------------ one request
    def decisions(self, request_id: str) -> list[DecisionView]:
        rows = self._db().execute(
            "SELECT id, ts, request_id, debtor_id, blocked, via, actor, region, body "
            "FROM decisions WHERE rid = ? AND request_id = ? ORDER BY ts, id",
            (request_hash(request_id), request_id)).fetchall()
        state = self._states({(request_hash(request_id), request_id)}).get(request_id, "open")
        return [DecisionView(r[0], r[1], r[2], r[3], "blocked" if r[4] else "allowed", r[5],
                             r[6], state, r[7], orjson.loads(r[8])) for r in rows]

    def actions(self, request_id: str) -> list[dict[str, Any]]:
        rows = self._db().execute(
            "SELECT seq, ts, action, actor, reason, body FROM actions WHERE rid = ? AND "
            "request_id = ? ORDER BY seq", (request_hash(request_id), request_id)).fetchall()
        return [{"seq": r[0], "ts": r[1], "action": r[2], "actor": r[3], "reason": r[4],
                 "body": orjson.loads(r[5])} for r in rows]

    def outcomes(self, request_id: str, debtor_id: str) -> list[dict[str, Any]]:
        rows = self._db().execute(
            "SELECT ts, outcome, body FROM outcomes WHERE debtor_id = ? AND request_id = ? "
            "ORDER BY ts", (debtor_id, request_id)).fetchall()
        return [{"ts": r[0], "outcome": r[1], "body": orjson.loads(r[2])} for r in rows]

    # ------------------------------------------------------------------------ one debtor
    def timeline(self, debtor_id: str, *, limit: int = 500,
                 before: int | None = None) -> list[TimelineItem]:
        """Everything indexed of a debtor, newest first: decisions, events, outcomes and the
        console's actions, merged by time."""
        bound = before if before is not None else 2**62
        db = self._db()
        merged: list[TimelineItem] = []
        for ts, blocked, request_id, body in db.execute(
                "SELECT ts, blocked, request_id, body FROM decisions WHERE debtor_id = ? AND "
                "ts < ? ORDER BY ts DESC LIMIT ?", (debtor_id, bound, limit)):
            data = orjson.loads(body)
            reasons = data.get("decision", {}).get("reasons") or []
            summary = "; ".join(f"{r.get('rule')}: {r.get('message')}" for r in reasons)
            channel = data.get("request", {}).get("channel", "")
            merged.append(TimelineItem(ts, "decision", "blocked" if blocked else "allowed",
                                       request_id, f"{channel} {summary}".strip(), data))
        for ts, kind, body in db.execute(
                "SELECT ts, type, body FROM events WHERE debtor_id = ? AND ts < ? "
                "ORDER BY ts DESC LIMIT ?", (debtor_id, bound, limit)):
            data = orjson.loads(body)
            merged.append(TimelineItem(ts, "event", kind, None, _event_summary(data), data))
        for ts, outcome, request_id, body in db.execute(
                "SELECT ts, outcome, request_id, body FROM outcomes WHERE debtor_id = ? AND "
                "ts < ? ORDER BY ts DESC LIMIT ?", (debtor_id, bound, limit)):
            merged.append(TimelineItem(ts, "outcome", outcome, request_id, outcome,
                                       orjson.loads(body)))
        for ts, action, actor, reason, request_id, body in db.execute(
                "SELECT ts, action, actor, reason, request_id, body FROM actions WHERE "
                "debtor_id = ? AND ts < ? ORDER BY ts DESC LIMIT ?", (debtor_id, bound, limit)):
            merged.append(TimelineItem(ts, "action", action, request_id,
                                       f"by {actor}: {reason}" if reason else f"by {actor}",
                                       orjson.loads(body)))
        merged.sort(key=lambda item: item.ts, reverse=True)
        return merged[:limit]

    def debtor_profile(self, debtor_id: str) -> dict[str, str | None]:
        row = self._db().execute("SELECT region, timezone FROM debtors WHERE debtor_id = ?",
                                 (debtor_id,)).fetchone()
        return {"region": row[0], "timezone": row[1]} if row else {}

    # ------------------------------------------------------------------------ counts
    def rule_hours(self, since: int, until: int) -> list[tuple[int, str, int]]:
        """Blocks by rule per hour over [since, until)."""
        return [(h, r, n) for h, r, n in self._db().execute(
            "SELECT hour, rule, n FROM hourly_rules WHERE hour >= ? AND hour < ? "
            "ORDER BY hour, rule", (since - since % HOUR, until))]

    def overview(self, since: int, until: int) -> Overview:
        db = self._db()
        start = since - since % HOUR
        hours = [(h, total, blocked) for h, total, blocked in db.execute(
            "SELECT hour, total, blocked FROM hourly_totals WHERE hour >= ? AND hour < ? "
            "ORDER BY hour", (start, until))]
        by_rule = list(db.execute(
            "SELECT rule, sum(n) AS c FROM hourly_rules WHERE hour >= ? AND hour < ? "
            "GROUP BY rule ORDER BY c DESC", (start, until)))
        grouped: dict[str, list[tuple[str, int]]] = {"c": [], "g": []}
        for dim, count in db.execute(
                "SELECT dim, sum(n) AS c FROM hourly_dims WHERE hour >= ? AND hour < ? "
                "GROUP BY dim ORDER BY c DESC", (start, until)):
            grouped[dim[0]].append((dim[2:] or "unknown", count))
        return Overview(hours, by_rule, grouped["c"], grouped["g"],
                        sum(h[1] for h in hours), sum(h[2] for h in hours))

    def choices(self) -> dict[str, list[str]]:
        """The values the queue's filters can take."""
        out: dict[str, list[str]] = {"rule": [], "pack": [], "channel": [], "region": []}
        names = {"r": "rule", "p": "pack", "c": "channel", "g": "region"}
        for (dim,) in self._db().execute("SELECT dim FROM dims ORDER BY dim"):
            if dim[2:]:
                out[names[dim[0]]].append(dim[2:])
        return out

    # ------------------------------------------------------------------------ retention
    def prune(self, before: int) -> int:
        """Drop what is older than ``before`` (the retention); returns the rows dropped."""
        db = self._db()
        dropped = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            tags = [d for (d,) in db.execute("SELECT dim FROM dims WHERE dim >= 'p:' AND "
                                             "dim < 's'")]  # p: and r:
            for tag in tags:  # by the primary key (tag, ts, ...): no scan
                db.execute("DELETE FROM tags WHERE tag = ? AND ts < ?", (tag, before))
            for table in ("decisions", "events", "outcomes", "actions"):
                dropped += db.execute(f"DELETE FROM {table} WHERE ts < ?", (before,)).rowcount
            for table in ("hourly_totals", "hourly_dims", "hourly_rules"):
                db.execute(f"DELETE FROM {table} WHERE hour < ?", (before - before % HOUR,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return dropped


def _event_summary(data: dict[str, Any]) -> str:
    parts = []
    for key in ("channel", "destination", "debt_id"):
        if data.get(key):
            parts.append(f"{key} {data[key]}" if key != "destination" else "one destination")
    details = data.get("data")
    if isinstance(details, dict) and details:
        parts.append(", ".join(f"{k} {v}" for k, v in sorted(details.items())))
    return "; ".join(parts)


__all__ = ["SqliteIndex", "Message"]
