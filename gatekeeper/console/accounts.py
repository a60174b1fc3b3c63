"""Console accounts, sessions and the audit outbox, in one SQLite file beside the index.

Passwords are stored as Argon2id hashes (argon2-cffi's defaults: 64 MiB, 3 passes). A
session is a random token in an HttpOnly cookie; the database keeps only its SHA-256, with
its CSRF token, its start and its last use. ``lockout_failures`` failed sign-ins in a row
lock an account for ``lockout_minutes``. Every account change, sign-in and action is
chained into the audit outbox in the same transaction (``audit.py``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gatekeeper.console import audit
from gatekeeper.console.config import ConsoleSettings
from gatekeeper.errors import GatekeeperError
from gatekeeper.timeutil import format_utc, from_epoch

ROLES = ("viewer", "reviewer", "admin")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10
SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL, disabled INTEGER NOT NULL,
  failures INTEGER NOT NULL, locked_until REAL NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  token TEXT PRIMARY KEY, name TEXT NOT NULL, csrf TEXT NOT NULL, started REAL NOT NULL,
  seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY, record BLOB NOT NULL, hash TEXT NOT NULL, sent INTEGER NOT NULL);
"""


class AccountError(GatekeeperError):
    """An account that cannot be made or changed as asked (the message says why)."""


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: str
    disabled: bool
    failures: int
    locked_until: float
    created: float

    def may(self, role: str) -> bool:
        """At least ``role``: a viewer reads, a reviewer also acts, an admin also manages."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    account: Account
    csrf: str
    started: float


@dataclass(frozen=True, slots=True)
class SignIn:
    account: Account | None
    problem: str | None  # None: signed in


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role: expected one of {', '.join(ROLES)}, found {role!r}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: expected at least {MIN_PASSWORD} characters, found "
                           f"{len(password)}")
    return password


class Accounts:
    def __init__(self, path: Path | str, settings: ConsoleSettings | None = None, *,
                 clock: Callable[[], float] = time.time, hasher: PasswordHasher | None = None):
        self.path = str(path)
        self.settings = settings or ConsoleSettings()
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self._dummy = self.hasher.hash("not a password of anyone")
        self._local = threading.local()
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db().executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # ------------------------------------------------------------------------ audit
    def _chain(self, db: sqlite3.Connection, actor: str, action: str,
               details: dict[str, Any]) -> dict[str, Any]:
        """Append a record to the chain (inside the caller's write transaction)."""
        last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, audit.GENESIS)
        record = audit.chained(prev, seq, format_utc(from_epoch(self.clock())), actor, action,
                               details)
        db.execute("INSERT INTO audit VALUES (?, ?, ?, 0)",
                   (seq, orjson.dumps(record), record["hash"]))
        return record

    def record(self, actor: str, action: str, details: dict[str, Any]) -> dict[str, Any]:
        with self._write() as db:
            return self._chain(db, actor, action, details)

    def unsent(self, limit: int = 500) -> list[tuple[int, bytes]]:
        return [(seq, bytes(record)) for seq, record in self._db().execute(
            "SELECT seq, record FROM audit WHERE sent = 0 ORDER BY seq LIMIT ?", (limit,))]

    def mark_sent(self, seqs: list[int]) -> None:
        with self._write() as db:
            db.executemany("UPDATE audit SET sent = 1 WHERE seq = ?", [(s,) for s in seqs])

    def _write(self) -> _Transaction:
        return _Transaction(self._db())

    # ------------------------------------------------------------------------ accounts
    def add(self, name: str, role: str, password: str, *, actor: str = "cli") -> Account:
        if not NAME.match(name):
            raise AccountError(f"name: expected letters, digits and . _ @ - (up to 64, "
                               f"starting with a letter or digit), found {name!r}")
        check_role(role)
        check_password(password)
        digest = self.hasher.hash(password)
        with self._write() as db:
            if db.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"name: an account {name!r} exists already")
            db.execute("INSERT INTO accounts VALUES (?, ?, ?, 0, 0, 0, ?)",
                       (name, role, digest, self.clock()))
            self._chain(db, actor, "account_added", {"name": name, "role": role})
        account = self.get(name)
        assert account is not None
        return account

    def get(self, name: str) -> Account | None:
        row = self._db().execute("SELECT name, role, disabled, failures, locked_until, created "
                                 "FROM accounts WHERE name = ?", (name,)).fetchone()
        return Account(row[0], row[1], bool(row[2]), row[3], row[4], row[5]) if row else None

    def all(self) -> list[Account]:
        return [Account(r[0], r[1], bool(r[2]), r[3], r[4], r[5]) for r in self._db().execute(
            "SELECT name, role, disabled, failures, locked_until, created FROM accounts "
            "ORDER BY name")]

    def change(self, name: str, *, actor: str, role: str | None = None,
               disabled: bool | None = None, unlock: bool = False,
               password: str | None = None) -> Account:
        """Change an account; each change is one audit record."""
        if role is not None:
            check_role(role)
        if password is not None:
            check_password(password)
        digest = self.hasher.hash(password) if password is not None else None
        with self._write() as db:
            row = db.execute("SELECT role, disabled FROM accounts WHERE name = ?",
                             (name,)).fetchone()
            if row is None:
                raise AccountError(f"name: no account {name!r}")
            if role is not None and role != row[0]:
                db.execute("UPDATE accounts SET role = ? WHERE name = ?", (role, name))
                self._chain(db, actor, "role_changed", {"name": name, "from": row[0],
                                                        "to": role})
            if disabled is not None and disabled != bool(row[1]):
                db.execute("UPDATE accounts SET disabled = ? WHERE name = ?",
                           (int(disabled), name))
                if disabled:
                    db.execute("DELETE FROM sessions WHERE name = ?", (name,))
                self._chain(db, actor, "account_disabled" if disabled else "account_enabled",
                            {"name": name})
            if unlock:
                db.execute("UPDATE accounts SET failures = 0, locked_until = 0 WHERE name = ?",
                           (name,))
                self._chain(db, actor, "account_unlocked", {"name": name})
            if digest is not None:
                db.execute("UPDATE accounts SET hash = ? WHERE name = ?", (digest, name))
                db.execute("DELETE FROM sessions WHERE name = ?", (name,))
                self._chain(db, actor, "password_changed", {"name": name})
        account = self.get(name)
        assert account is not None
        return account

    # ------------------------------------------------------------------------ sign-in
    def sign_in(self, name: str, password: str, *, address: str = "") -> SignIn:
        """Check a password; lock the account after too many failures in a row. The answer
        to a person never says whether the name exists."""
        now = self.clock()
        row = self._db().execute("SELECT hash, disabled, locked_until FROM accounts "
                                 "WHERE name = ?", (name,)).fetchone()
        ok = self._verify(row[0] if row else self._dummy, password) and row is not None
        details = {"name": name, "address": address}
        with self._write() as db:
            if row is None:
                self._chain(db, name, "sign_in_failed", {**details, "why": "unknown name"})
                return SignIn(None, "wrong name or password")
            if row[2] > now:
                self._chain(db, name, "sign_in_failed", {**details, "why": "locked"})
                return SignIn(None, f"this account is locked until "
                                    f"{format_utc(from_epoch(row[2]))[:16]} UTC after repeated "
                                    "failed sign-ins; an admin can unlock it")
            if not ok:
                failures = db.execute("UPDATE accounts SET failures = failures + 1 WHERE "
                                      "name = ? RETURNING failures", (name,)).fetchone()[0]
                self._chain(db, name, "sign_in_failed", {**details, "why": "wrong password"})
                if failures >= self.settings.lockout_failures:
                    until = now + self.settings.lockout_minutes * 60
                    db.execute("UPDATE accounts SET failures = 0, locked_until = ? WHERE "
                               "name = ?", (until, name))
                    self._chain(db, name, "locked_out", {"name": name, "failures": failures,
                                                         "until": format_utc(from_epoch(until))})
                return SignIn(None, "wrong name or password")
            if row[1]:
                self._chain(db, name, "sign_in_failed", {**details, "why": "disabled"})
                return SignIn(None, "this account is disabled; ask an admin")
            db.execute("UPDATE accounts SET failures = 0, locked_until = 0 WHERE name = ?",
                       (name,))
            self._chain(db, name, "sign_in", details)
        return SignIn(self.get(name), None)

    def _verify(self, digest: str, password: str) -> bool:
        try:
            return self.hasher.verify(digest, password)
        except (VerificationError, InvalidHashError):
            return False

    # ------------------------------------------------------------------------ sessions
    def start_session(self, name: str) -> tuple[str, str]:
        """A new session: (token for the cookie, CSRF token for the forms)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock()
        with self._write() as db:
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                       (_digest(token), name, csrf, now, now))
            db.execute("DELETE FROM sessions WHERE started < ?",
                       (now - self.settings.session_minutes * 60,))
        return token, csrf

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie (its last use is updated), or None."""
        if not token:
            return None
        now = self.clock()
        row = self._db().execute("SELECT name, csrf, started, seen FROM sessions WHERE "
                                 "token = ?", (_digest(token),)).fetchone()
        if row is None:
            return None
        expired = (now - row[2] > self.settings.session_minutes * 60
                   or now - row[3] > self.settings.idle_minutes * 60)
        account = self.get(row[0])
        if expired or account is None or account.disabled:
            self.end_session(token)
            return None
        if now - row[3] > 30:  # no write per request
            with self._write() as db:
                db.execute("UPDATE sessions SET seen = ? WHERE token = ?", (now, _digest(token)))
        return Session(token, account, row[1], row[2])

    def end_session(self, token: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM sessions WHERE token = ?", (_digest(token),))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _Transaction:
    """``with`` a write transaction (BEGIN IMMEDIATE: the chain's head is read under the
    write lock, so two writers never chain to the same record)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
