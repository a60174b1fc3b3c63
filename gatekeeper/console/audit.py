"""The audit trail: a hash chain on the audit topic that shows any alteration.

Every sign-in (and failed one), sign-out, release, acknowledgement and account change is a
record ``{"seq", "at", "actor", "action", "details", "prev", "hash"}``: ``prev`` is the hash
of the record before it (64 zeros for the first), ``hash`` the SHA-256 of the record's other
fields in canonical JSON. Changing, removing or inserting a record breaks the link after it;
``gatekeeper audit verify`` walks the topic and names the first broken link.

Records are chained where they are made, in the accounts database (``accounts.Accounts.
record``), under SQLite's write lock: the console and the ``users`` command may both write,
and the chain never forks. The console ships them to the topic in order (at least once: a
record sent twice is the same record, and ``verify`` skips the repeat).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = "0" * 64
ACTIONS = ("sign_in", "sign_in_failed", "locked_out", "sign_out", "release", "acknowledge",
           "account_added", "role_changed", "account_disabled", "account_enabled",
           "account_unlocked", "password_changed")


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def chained(prev: str, seq: int, at: str, actor: str, action: str,
            details: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"seq": seq, "at": at, "actor": actor, "action": action,
                              "details": details, "prev": prev}
    record["hash"] = record_hash(record)
    return record


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    records: int
    head: str  # the hash of the last good record
    problem: str | None = None  # the first broken link, in words
    where: str | None = None  # its position on the topic


def verify(records: Iterable[tuple[str, bytes | None]]) -> Verdict:
    """Walk (position, value) pairs in topic order and check every link."""
    expected_seq, prev, good = 1, GENESIS, 0
    seen: dict[int, str] = {}
    for where, value in records:
        try:
            record = orjson.loads(value or b"")
            seq, claimed = int(record["seq"]), str(record["hash"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return Verdict(False, good, prev, "not an audit record (unreadable JSON or no "
                                              "seq/hash)", where)
        if seq in seen and seen[seq] == claimed and record_hash(record) == claimed:
            continue  # the same record sent again (at-least-once shipping)
        if seq != expected_seq:
            what = "repeats" if seq < expected_seq else "skips to"
            return Verdict(False, good, prev, f"record seq {seq} {what} the sequence: "
                                              f"expected seq {expected_seq}", where)
        if record.get("prev") != prev:
            return Verdict(False, good, prev, f"record seq {seq}: prev is "
                                              f"{str(record.get('prev'))[:16]}..., expected the "
                                              f"hash of seq {seq - 1}: {prev[:16]}...", where)
        if record_hash(record) != claimed:
            return Verdict(False, good, prev, f"record seq {seq}: its content does not match "
                                              "its hash (altered)", where)
        seen[seq] = claimed
        prev, expected_seq, good = claimed, seq + 1, good + 1
    return Verdict(True, good, prev)
