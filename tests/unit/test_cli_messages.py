"""What a newcomer trips on: each mistake gets a message naming what is wrong (no sockets)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from gatekeeper.cli import main


def test_policy_check_tells_a_missing_file_from_an_unknown_pack(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = tmp_path / "no" / "such.yaml"
    result = runner.invoke(main, ["policy", "check", str(missing)])
    assert result.exit_code == 1
    assert f"{missing}: <root>: no such file" in result.output
    assert "policy pack" not in result.output
    unknown = runner.invoke(main, ["policy", "check", "no-such-pack"])
    assert unknown.exit_code == 1
    assert "no such policy pack (known packs: " in unknown.output and "default" in unknown.output
