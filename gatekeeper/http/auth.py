"""API keys: created by ``gatekeeper apikeys add NAME``, stored only as SHA-256 hashes.

A key reads ``gk_<id>_<secret>``: ``id`` (8 hex digits) finds its entry, and the SHA-256 of
the whole key is compared with the stored one in constant time (``hmac.compare_digest``).
The secret is 32 random bytes, so a fast hash is enough: there is nothing to guess. The
file (``api-keys.json`` in ``GATEKEEPER_API_KEYS_DIR``, mode 0600) keeps every key ever
made, revoked ones with the time they were revoked; the server reads it again when it
changes, so a revoked key stops working within a second, without a restart. The server
remembers the names of the ``Authorization`` headers it has accepted (a dict lookup instead of
a hash and a comparison per request); reading the file again forgets them, so revocation
still takes effect within a second. Several keys
may share a name (a dialer rotating its key); the name is what decisions record as their
source.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import orjson

from gatekeeper.errors import GatekeeperError

FILE_NAME = "api-keys.json"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KEY = re.compile(r"^gk_([0-9a-f]{8})_[A-Za-z0-9_-]{20,100}$")
RELOAD_SECONDS = 1.0
ACCEPTED_CACHE = 1024  # accepted Authorization headers remembered (cleared when full)


class KeyFileError(GatekeeperError):
    """The key file cannot be used, or a command's argument is wrong."""


class Unauthorized(GatekeeperError):
    """No valid key: ``found`` says what came instead (never the key itself)."""

    def __init__(self, message: str, found: str):
        super().__init__(message)
        self.message = message
        self.found = found


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    sha256: str
    created_at: str
    revoked_at: str | None = None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class KeyFile:
    """The key file of one directory: add, list, revoke (for the command line)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory).expanduser()
        self.path = self.directory / FILE_NAME

    def load(self) -> list[ApiKey]:
        try:
            data = orjson.loads(self.path.read_bytes())
            return [ApiKey(**entry) for entry in data["keys"]]
        except FileNotFoundError:
            return []
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise KeyFileError(f"{self.path}: not a key file written by gatekeeper apikeys "
                               f"({type(exc).__name__}: {exc})") from None

    def add(self, name: str) -> tuple[ApiKey, str]:
        """A new key for ``name``: its entry, and the key itself (shown once, never stored)."""
        if not NAME.match(name):
            raise KeyFileError(f"NAME: expected 1 to 64 letters, digits, '.', '_' or '-' "
                               f"(starting with a letter or digit), found {name!r}")
        with self._locked():
            keys = self.load()
            taken = {k.id for k in keys}
            key_id = secrets.token_hex(4)
            while key_id in taken:
                key_id = secrets.token_hex(4)
            key = f"gk_{key_id}_{secrets.token_urlsafe(32)}"
            entry = ApiKey(key_id, name, _digest(key), _utc(time.time()))
            self._write([*keys, entry])
        return entry, key

    def revoke(self, name_or_id: str) -> list[ApiKey]:
        """Revoke the key with this id, or every active key with this name."""
        with self._locked():
            keys = self.load()
            hits = [k for k in keys if k.revoked_at is None and name_or_id in (k.id, k.name)]
            if not hits:
                raise KeyFileError(f"NAME_OR_ID: no active key has the name or id "
                                   f"{name_or_id!r} (see gatekeeper apikeys list)")
            now = _utc(time.time())
            done = {k.id for k in hits}
            self._write([replace(k, revoked_at=now) if k.id in done else k for k in keys])
        return [replace(k, revoked_at=now) for k in hits]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.directory / (FILE_NAME + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, keys: list[ApiKey]) -> None:
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(orjson.dumps({"version": 1, "keys": [asdict(k) for k in keys]},
                                   option=orjson.OPT_INDENT_2))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)


class KeyCheck:
    """The server's side: which key's name an ``Authorization`` header carries."""

    def __init__(self, keys: KeyFile):
        self.keys = keys
        self._active: dict[str, ApiKey] = {}
        self._revoked: dict[str, ApiKey] = {}
        self._seen: tuple[int, int] | None = None
        self._checked = 0.0
        self._accepted: dict[str, str] = {}  # Authorization header -> key name

    def _refresh(self) -> None:
        now = time.monotonic()
        if self._seen is not None and now - self._checked < RELOAD_SECONDS:
            return
        self._checked = now
        try:
            stat = self.keys.path.stat()
            seen = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            seen = (0, 0)
        if seen == self._seen:
            return
        keys = self.keys.load()
        self._active = {k.id: k for k in keys if k.revoked_at is None}
        self._revoked = {k.id: k for k in keys if k.revoked_at is not None}
        self._accepted = {}
        self._seen = seen

    @property
    def count(self) -> int:
        self._refresh()
        return len(self._active)

    def identify(self, header: str | None) -> str:
        """The key's name, or ``Unauthorized`` saying what was wrong."""
        self._refresh()
        if header is not None:
            # a hit needs the whole header, found through a salted string hash: this leaks
            # no more about the key than the constant-time comparison below
            name = self._accepted.get(header)
            if name is not None:
                return name
        name = self._check(header)
        if len(self._accepted) >= ACCEPTED_CACHE:
            self._accepted = {}
        self._accepted[str(header)] = name
        return name

    def _check(self, header: str | None) -> str:
        if not header:
            raise Unauthorized("an API key is needed: Authorization: Bearer <key>",
                               "no Authorization header")
        scheme, _, key = header.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise Unauthorized("the Authorization header must read: Bearer <key>",
                               f"a header of scheme {scheme[:20]!r}")
        match = KEY.match(key)
        entry = self._active.get(match.group(1)) if match else None
        digest = _digest(key)
        # compared in constant time, also when no entry matches (against a fixed string)
        same = hmac.compare_digest(digest, entry.sha256 if entry else "0" * 64)
        if entry is not None and same:
            return entry.name
        revoked = self._revoked.get(match.group(1)) if match else None
        if revoked is not None and hmac.compare_digest(digest, revoked.sha256):
            raise Unauthorized(f"this API key was revoked at {revoked.revoked_at}",
                               f"the revoked key {revoked.id}")
        if not self._active:
            raise Unauthorized("no API key is configured on this server: create one with "
                               "gatekeeper apikeys add NAME", "an unknown key")
        raise Unauthorized("unknown API key", "an unknown key")
