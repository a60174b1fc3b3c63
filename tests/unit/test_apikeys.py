"""API keys: shown once, stored hashed, checked by the server, revoked without a restart."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from gatekeeper.cli import main
from gatekeeper.http import auth
from gatekeeper.http.auth import KeyCheck, KeyFile, KeyFileError, Unauthorized


def fresh_check(keys: KeyFile) -> KeyCheck:
    return KeyCheck(keys)  # a new one reads the file at once


def test_a_key_is_stored_only_as_its_hash_in_a_private_file(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "keys")
    entry, key = keys.add("dialer-1")
    text = keys.path.read_text()
    assert key.startswith(f"gk_{entry.id}_") and key not in text
    assert key.split("_", 2)[2] not in text
    assert entry.sha256 in text and entry.name == "dialer-1"
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    assert fresh_check(keys).identify(f"Bearer {key}") == "dialer-1"


@pytest.mark.parametrize(("header", "found"), [
    (None, "no Authorization header"),
    ("", "no Authorization header"),
    ("Basic dXNlcjpwYXNz", "a header of scheme 'Basic'"),
    ("Bearer", "a header of scheme 'Bearer'"),
    ("Bearer gk_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "an unknown key"),
    ("Bearer not-a-key", "an unknown key"),
])
def test_what_is_not_a_valid_key_is_named(tmp_path: Path, header: str | None,
                                          found: str) -> None:
    keys = KeyFile(tmp_path)
    keys.add("dialer-1")
    with pytest.raises(Unauthorized) as caught:
        fresh_check(keys).identify(header)
    assert caught.value.found == found


def test_a_key_of_a_known_id_with_another_secret_is_refused(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path)
    entry, key = keys.add("dialer-1")
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthorized, match="unknown API key"):
        fresh_check(keys).identify(f"Bearer {forged}")


def test_without_any_key_the_message_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(Unauthorized, match="gatekeeper apikeys add NAME"):
        fresh_check(KeyFile(tmp_path)).identify("Bearer gk_12345678_" + "A" * 43)


def test_a_revoked_key_stops_working_within_a_second(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    keys = KeyFile(tmp_path)
    _, old = keys.add("dialer-1")
    _, new = keys.add("dialer-1")  # rotation: two keys of one name
    check = KeyCheck(keys)
    assert check.identify(f"Bearer {old}") == check.identify(f"Bearer {new}") == "dialer-1"
    old_id = old.split("_")[1]
    (revoked,) = keys.revoke(old_id)
    assert revoked.revoked_at is not None
    assert check.identify(f"Bearer {old}") == "dialer-1"  # read at most once a second
    monkeypatch.setattr(auth, "RELOAD_SECONDS", 0.0)
    with pytest.raises(Unauthorized, match="was revoked at"):
        check.identify(f"Bearer {old}")
    assert check.identify(f"Bearer {new}") == "dialer-1"
    assert [k.name for k in keys.revoke("dialer-1")] == ["dialer-1"]  # by name: every one
    with pytest.raises(Unauthorized):
        check.identify(f"Bearer {new}")
    with pytest.raises(KeyFileError, match="no active key has the name or id 'dialer-1'"):
        keys.revoke("dialer-1")


@pytest.mark.parametrize("name", ["", "-dash", "has space", "x" * 65, "ünï"])
def test_a_bad_name_is_refused_with_what_a_name_may_be(tmp_path: Path, name: str) -> None:
    with pytest.raises(KeyFileError, match="NAME: expected 1 to 64 letters"):
        KeyFile(tmp_path).add(name)


def test_a_damaged_file_is_named(tmp_path: Path) -> None:
    (tmp_path / auth.FILE_NAME).write_text("{not json")
    with pytest.raises(KeyFileError, match="not a key file written by gatekeeper apikeys"):
        KeyFile(tmp_path).load()


def test_the_commands_print_the_key_once_list_and_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"GATEKEEPER_API_KEYS_DIR": str(tmp_path)}
    added = runner.invoke(main, ["apikeys", "add", "crm"], env=env)
    assert added.exit_code == 0, added.output
    key = added.stdout.strip()
    assert key.startswith("gk_") and "\n" not in key  # KEY=$(gatekeeper apikeys add crm)
    assert "shown only now" in added.stderr
    listed = runner.invoke(main, ["apikeys", "list"], env=env)
    assert "crm" in listed.stdout and key.split("_")[1] in listed.stdout
    assert key not in listed.stdout
    revoked = runner.invoke(main, ["apikeys", "revoke", "crm"], env=env)
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    again = runner.invoke(main, ["apikeys", "revoke", "crm"], env=env)
    assert again.exit_code == 1 and "no active key" in again.stderr
    assert "Traceback" not in again.output
    bad = runner.invoke(main, ["apikeys", "add", "two words"], env=env)
    assert bad.exit_code == 1 and "NAME: expected" in bad.stderr


def test_the_unknown_id_path_compares_digests_too(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a timing proof (that is hmac.compare_digest's): an unknown id is compared with a
    fixed digest, so it takes the same path as a known one."""
    keys = KeyFile(tmp_path)
    _, key = keys.add("a")
    check = fresh_check(keys)
    compared: list[str] = []
    original = auth.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append(b)
        return original(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    with pytest.raises(Unauthorized):
        check.identify("Bearer gk_ffffffff_" + "A" * 43)
    assert compared == ["0" * 64]
    compared.clear()
    check.identify(f"Bearer {key}")
    assert len(compared) == 1 and compared[0] != "0" * 64


def test_an_accepted_header_is_remembered_until_the_file_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = KeyFile(tmp_path)
    _, key = keys.add("dialer")
    check = fresh_check(keys)
    digests: list[str] = []
    original = auth._digest
    monkeypatch.setattr(auth, "_digest", lambda k: digests.append(k) or original(k))
    monkeypatch.setattr(auth, "RELOAD_SECONDS", 0.0)
    assert check.identify(f"Bearer {key}") == check.identify(f"Bearer {key}") == "dialer"
    assert len(digests) == 1  # the second request: a lookup, no hash
    keys.add("other")  # the file changes: what was accepted is checked again
    assert check.identify(f"Bearer {key}") == "dialer"
    assert digests.count(key) == 2
    with pytest.raises(Unauthorized):
        check.identify(f"Bearer {key}x")  # a refused header is never remembered
