"""Console accounts: Argon2id hashes, sign-in, lock-out, sessions, and the audit chain."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from argon2 import PasswordHasher

from gatekeeper.console import audit
from gatekeeper.console.accounts import AccountError, Accounts
from gatekeeper.console.config import ConsoleSettings

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # same Argon2id, cheaper


class Clock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(tmp_path: Path, clock: Clock) -> Accounts:
    settings = ConsoleSettings(lockout_failures=3, lockout_minutes=10, idle_minutes=30,
                               session_minutes=120)
    return Accounts(tmp_path / "accounts.sqlite", settings, clock=clock, hasher=FAST)


def test_passwords_are_stored_as_argon2id_hashes(accounts, tmp_path):
    accounts.add("rita", "reviewer", "correct horse battery")
    import sqlite3

    (stored,) = sqlite3.connect(tmp_path / "accounts.sqlite").execute(
        "SELECT hash FROM accounts").fetchone()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert PasswordHasher().verify(stored, "correct horse battery")


@pytest.mark.parametrize(("name", "role", "password", "message"), [
    ("rita", "boss", "correct horse battery", "role: expected one of viewer, reviewer, admin, "
                                              "found 'boss'"),
    ("rita", "viewer", "short", "password: expected at least 10 characters, found 5"),
    ("-rita", "viewer", "correct horse battery", "name: expected letters"),
])
def test_bad_accounts_are_refused_with_the_field_named(accounts, name, role, password, message):
    with pytest.raises(AccountError) as caught:
        accounts.add(name, role, password)
    assert message in str(caught.value)


def test_a_name_is_taken_once(accounts):
    accounts.add("rita", "viewer", "correct horse battery")
    with pytest.raises(AccountError, match="exists already"):
        accounts.add("rita", "admin", "correct horse battery")


def test_sign_in_and_lock_out_after_repeated_failures(accounts, clock):
    accounts.add("rita", "reviewer", "correct horse battery")
    assert accounts.sign_in("rita", "correct horse battery").account is not None
    assert accounts.sign_in("nobody", "whatever").problem == "wrong name or password"
    for _ in range(3):
        assert accounts.sign_in("rita", "wrong password!").problem == "wrong name or password"
    locked = accounts.sign_in("rita", "correct horse battery")
    assert locked.account is None and "locked until" in (locked.problem or "")
    clock.now += 11 * 60
    assert accounts.sign_in("rita", "correct horse battery").account is not None


def test_an_admin_unlocks_and_disables(accounts):
    accounts.add("rita", "reviewer", "correct horse battery")
    for _ in range(3):
        accounts.sign_in("rita", "wrong password!")
    accounts.change("rita", actor="ada", unlock=True)
    assert accounts.sign_in("rita", "correct horse battery").account is not None
    token, _ = accounts.start_session("rita")
    accounts.change("rita", actor="ada", disabled=True)
    assert accounts.session(token) is None  # disabling ends the sessions
    assert "disabled" in (accounts.sign_in("rita", "correct horse battery").problem or "")


def test_sessions_expire_when_idle_or_old_and_end_on_sign_out(accounts, clock):
    accounts.add("rita", "viewer", "correct horse battery")
    token, csrf = accounts.start_session("rita")
    session = accounts.session(token)
    assert session is not None and session.csrf == csrf and session.account.role == "viewer"
    assert accounts.session("not-a-token") is None
    clock.now += 31 * 60
    assert accounts.session(token) is None  # idle
    token, _ = accounts.start_session("rita")
    for _ in range(5):
        clock.now += 25 * 60
        accounts.session(token)
    assert accounts.session(token) is None  # older than the session length
    token, _ = accounts.start_session("rita")
    accounts.end_session(token)
    assert accounts.session(token) is None


def test_roles_are_ordered():
    from gatekeeper.console.accounts import Account

    reviewer = Account("r", "reviewer", False, 0, 0, 0)
    assert reviewer.may("viewer") and reviewer.may("reviewer") and not reviewer.may("admin")


def test_every_change_is_chained_in_the_audit_outbox(accounts):
    accounts.add("rita", "viewer", "correct horse battery", actor="cli")
    accounts.sign_in("rita", "wrong password!")
    accounts.change("rita", actor="ada", role="reviewer")
    accounts.record("rita", "acknowledge", {"request_id": "r1", "debtor_id": "d1"})
    records = [orjson.loads(value) for _, value in accounts.unsent()]
    assert [r["action"] for r in records] == ["account_added", "sign_in_failed",
                                              "role_changed", "acknowledge"]
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert audit.verify((str(i), orjson.dumps(r)) for i, r in enumerate(records)).ok
    accounts.mark_sent([1, 2])
    assert [seq for seq, _ in accounts.unsent()] == [3, 4]


def chain(n: int) -> list[dict[str, object]]:
    out, prev = [], audit.GENESIS
    for seq in range(1, n + 1):
        record = audit.chained(prev, seq, "2026-09-21T00:00:00Z", "rita", "sign_in", {})
        out.append(record)
        prev = str(record["hash"])
    return out


def positions(records: list[dict[str, object]]) -> list[tuple[str, bytes]]:
    return [(f"audit[0]@{i}", orjson.dumps(r)) for i, r in enumerate(records)]


def test_verify_accepts_a_whole_chain_and_a_resent_record():
    records = chain(4)
    verdict = audit.verify(positions([*records[:3], records[2], records[3]]))
    assert verdict.ok and verdict.records == 4 and verdict.head == records[3]["hash"]


def test_verify_names_the_first_broken_link():
    altered = chain(5)
    altered[2] = {**altered[2], "actor": "mallory"}  # content changed, hash kept
    verdict = audit.verify(positions(altered))
    assert not verdict.ok and verdict.records == 2 and verdict.where == "audit[0]@2"
    assert verdict.problem == "record seq 3: its content does not match its hash (altered)"

    removed = chain(5)
    del removed[1]
    verdict = audit.verify(positions(removed))
    assert verdict.problem == "record seq 3 skips to the sequence: expected seq 2"

    rehashed = chain(3)
    forged = audit.chained("f" * 64, 2, "2026-09-21T00:00:00Z", "mallory", "sign_in", {})
    verdict = audit.verify(positions([rehashed[0], forged, rehashed[2]]))
    assert verdict.problem is not None and verdict.problem.startswith("record seq 2: prev is")
    assert audit.verify([("x", b"nonsense")]).problem is not None
