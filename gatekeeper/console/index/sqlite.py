"""The decision index in SQLite (stdlib, WAL): one writer, any number of readers.

Why SQLite and not DuckDB: the console's queries are mostly "the newest 50 rows matching
these filters" and "everything of one debtor", which B-tree indexes answer in milliseconds
however large the table; the one aggregate (counts per hour) is kept as rows arrive, so it
never scans. DuckDB answers scans and aggregates faster, but keeps one writing process per
file (the CLI could not read while the console writes), and its indexes make row-at-a-time
inserts and point lookups slower. SQLite ships with Python, so a fresh clone needs nothing.

Each thread gets its own connection (sqlite3 connections are not shared across threads);
``ingest`` (``writer.py``) must be called from one thread at a time (the consumer's).
"""

from __future__ import annotations

import sqlite3
import threading
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
from gatekeeper.console.index.parsing import Parsed, collector_paused
from gatekeeper.console.index.rows import Message, request_hash
from gatekeeper.console.index.writer import HOUR, Writer
from gatekeeper.errors import GatekeeperError

SCHEMA_VERSION = "3"


class IndexSchemaError(GatekeeperError):
    """An index file written by another version of the console."""


READER_CACHE_MIB = 64  # a reading connection's pages (one per thread that queries)


class SqliteIndex:
    # ``cache_mib``: the pages the writing connection keeps: they must hold the pages a
    # grouped commit changes (pipeline.GROUP: about 800 MiB at ten million decisions), or
    # they spill to the WAL before the commit and are written twice. A reading connection
    # (each thread has one) keeps READER_CACHE_MIB: its queries read a few pages each
    def __init__(self, path: Path | str, *, cache_mib: int = 1024):
        self.path = str(path)
        self.cache_mib = cache_mib
        self._local = threading.local()
        self._writer = Writer()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = self._db()
        schema = resources.files("gatekeeper.console.index").joinpath("schema.sql").read_text()
        db.executescript(schema)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        (found,) = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if found == "2":  # 3 added decisions.pos; the rows before it keep a null
            db.execute("BEGIN IMMEDIATE")
            db.execute("ALTER TABLE decisions ADD COLUMN pos INTEGER")
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))
            db.execute("COMMIT")
            found = SCHEMA_VERSION
        if found != SCHEMA_VERSION:
            raise IndexSchemaError(f"{self.path}: index schema {found}, expected "
                                   f"{SCHEMA_VERSION}: rebuild it from the topics "
                                   "(gatekeeper console --rebuild)")

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            # 16 KiB pages (a new file only): fewer, shallower B-tree pages per insert; the
            # ingest spent 13 % less CPU than with the default 4 KiB
            db.execute("PRAGMA page_size=16384")
            db.execute("PRAGMA journal_mode=WAL")
            # no fsync: the index is a copy of the topics (an OS crash may cost a rebuild,
            # `gatekeeper console --rebuild`); with fsyncs, ingest ran at half the rate
            db.execute("PRAGMA synchronous=OFF")
            db.execute(f"PRAGMA cache_size=-{min(self.cache_mib, READER_CACHE_MIB) * 1024}")
            db.execute("PRAGMA temp_store=MEMORY")
            db.execute("PRAGMA mmap_size=1073741824")
            self._local.db = db
        return db

    def _writing(self) -> sqlite3.Connection:
        """This thread's connection, with the writer's cache (the consumer's thread)."""
        db = self._db()
        if not getattr(self._local, "writes", False):
            db.execute(f"PRAGMA cache_size=-{self.cache_mib * 1024}")
            self._local.writes = True
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            self._writer.commit(db)  # batches left open by ``write(commit=False)``
            db.close()
            self._local.db = None
            self._local.writes = False

    # ------------------------------------------------------------------------ ingest
    def ingest(self, messages: list[Message]) -> IngestStats:
        """Index a batch of messages and advance the offsets, in one transaction (from one
        thread at a time: the consumer's)."""
        with collector_paused():
            return self._writer.ingest(self._writing(), messages)

    def write(self, parsed: Parsed, *, commit: bool = True) -> IngestStats:
        """``ingest`` for a batch parsed elsewhere (``parsing.Parser``), in order;
        ``commit=False`` leaves its transaction open for the next batch to join (``commit``
        ends it; readers see the batches then)."""
        with collector_paused():
            return self._writer.write(self._writing(), parsed, commit=commit)

    def commit(self) -> None:
        """End the transaction left open by ``write(commit=False)``, if any."""
        self._writer.commit(self._writing())

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
                "ts < ? ORDER BY ts DESC, pos DESC LIMIT ?", (debtor_id, bound, limit)):
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

    def record(self, since: int, until: int, outcomes_until: int, *, limit: int
               ) -> tuple[list[tuple[int, int, str, bytes]], int]:
        """The messages ``gatekeeper report`` reads, as (kind: 0 event, 1 decision,
        2 outcome; time; debtor; value): the latest ``limit`` decisions of [since, until),
        the profiles before ``until``, the outcomes of [since, outcomes_until); and how
        many decisions [since, until) holds."""
        db = self._db()
        (total,) = db.execute("SELECT count(*) FROM decisions WHERE ts >= ? AND ts < ?",
                              (since, until)).fetchone()
        decisions = db.execute(
            "SELECT 1, ts, debtor_id, body FROM decisions WHERE ts >= ? AND ts < ? "
            "ORDER BY ts DESC LIMIT ?", (since, until, limit)).fetchall()
        first = decisions[-1][1] if decisions else since
        rows: list[tuple[int, int, str, bytes]] = db.execute(
            "SELECT 0, ts, debtor_id, body FROM events WHERE type = 'profile' AND ts < ?",
            (until,)).fetchall()
        rows += decisions
        rows += db.execute("SELECT 2, ts, debtor_id, body FROM outcomes WHERE ts >= ? AND "
                           "ts < ?", (first, outcomes_until)).fetchall()
        return rows, int(total)

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
        self._writer.commit(db)
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

