"""gatekeeper serve refuses to start with a clear message, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gatekeeper.cli import main


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["serve", *args], env=env)
    return result.exit_code, result.output


def test_without_a_hashing_key_it_says_which_variable(tmp_path: Path) -> None:
    code, output = run({"GATEKEEPER_HASH_KEY": "", "GATEKEEPER_API_KEYS_DIR": str(tmp_path)})
    assert code == 1 and "GATEKEEPER_HASH_KEY is not set" in output
    assert "gatekeeper serve refuses to start" in output and "Traceback" not in output


def test_a_bad_address_names_the_variable_and_the_form() -> None:
    code, output = run({"GATEKEEPER_HASH_KEY": "k", "GATEKEEPER_HTTP": "localhost"})
    assert code == 1 and "GATEKEEPER_HTTP: expected HOST:PORT such as 127.0.0.1:8080, " \
                         "found 'localhost'" in output


def test_a_bad_policy_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pack: x\nrules: 7\n")
    code, output = run({"GATEKEEPER_HASH_KEY": "k", "GATEKEEPER_POLICY": str(bad)})
    assert code == 1 and "bad.yaml" in output and "Traceback" not in output


def test_an_unreachable_kafka_is_said_in_one_line(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import gatekeeper.http.server as server

    async def no_kafka(*_: object, **__: object) -> list[str]:
        raise ConnectionError("connection refused")

    monkeypatch.setattr(server, "ensure_topics", no_kafka)
    code, output = run({"GATEKEEPER_HASH_KEY": "k", "GATEKEEPER_BROKER": "kafka://x:1",
                        "GATEKEEPER_API_KEYS_DIR": str(tmp_path)})
    assert code == 1 and "Kafka at kafka://x:1 does not answer" in output
    assert "Traceback" not in output
