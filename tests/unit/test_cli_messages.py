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


PROFILE = ('{"kind": "event", "data": {"event_id": "e1", "debtor_id": "d1", "type": "profile", '
           '"occurred_at": "2026-03-01T00:00:00Z", "data": {"timezone": "America/New_York"}}}')
CEASE = ('{"kind": "%s", "data": {"event_id": "e2", "debtor_id": "d1", "type": "%s", '
         '"occurred_at": "2026-03-01T00:00:00Z"}}')
CALL = ('{"kind": "request", "data": {"request_id": "r1", "debtor_id": "d1", "channel": "%s", '
        '"destination": "+12125550100", "requested_at": "2026-03-02T15:00:00Z"}}')


def _history(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_simulate_refuses_a_history_with_bad_lines_naming_each_line(tmp_path: Path) -> None:
    history = _history(tmp_path, "# a comment", PROFILE, CEASE % ("evnt", "cease"),
                       CEASE % ("event", "ceese"), "{not json", CALL % "fax", CALL % "call",
                       '{"kind": "outcome"}')
    result = CliRunner().invoke(main, ["simulate", str(history), "--policy", "default",
                                       "--redis", "redis://127.0.0.1:1/0"])
    assert result.exit_code == 1
    assert "5 bad lines, nothing was simulated" in result.output
    assert f"{history}:3: kind: expected one of request, event, outcome, cancel, found 'evnt'" \
        in result.output
    assert f"{history}:4: event: type must be one of [" in result.output
    assert "found 'ceese'" in result.output
    assert f"{history}:5: not JSON" in result.output
    assert f"{history}:6: request: channel must be one of [" in result.output
    assert f"{history}:8: outcome: data: expected an object, found None" in result.output
    assert f"{history}:7:" not in result.output and f"{history}:2:" not in result.output
    assert "Traceback" not in result.output


def test_simulate_names_a_bad_redis_url_and_a_missing_output_folder(tmp_path: Path) -> None:
    history = _history(tmp_path, PROFILE, CALL % "call")
    runner = CliRunner()
    bad_url = runner.invoke(main, ["simulate", str(history), "--policy", "default",
                                   "--redis", "notaurl"])
    assert bad_url.exit_code == 2
    assert "Invalid value for '--redis': expected a Redis URL" in bad_url.output
    assert "found 'notaurl'" in bad_url.output
    secret = runner.invoke(main, ["simulate", str(history), "--policy", "default",
                                  "--redis", "redis://:s3cret@host:port/0"])
    assert secret.exit_code == 2 and "s3cret" not in secret.output and ":***@" in secret.output
    missing = tmp_path / "no-such-folder" / "out.jsonl"
    no_folder = runner.invoke(main, ["simulate", str(history), "--policy", "default",
                                     "--out", str(missing)])
    assert no_folder.exit_code == 2
    assert f"Invalid value for '--out': folder '{missing.parent}' does not exist" \
        in no_folder.output


def test_a_bad_redis_url_in_the_environment_names_the_variable() -> None:
    result = CliRunner(env={"GATEKEEPER_REDIS": "localhost:6379"}).invoke(
        main, ["debtor", "show", "d1"])
    assert result.exit_code == 1
    assert "GATEKEEPER_REDIS: expected a Redis URL" in result.output
    assert "found 'localhost:6379'" in result.output


def test_verify_reads_the_message_from_standard_input() -> None:
    from gatekeeper.signing import sign

    value = b'{"request_id": "r-1", "note": "exact bytes, no newline added"}'
    signature = sign(b"k1", "r-1", "d-1", "default@x", value)
    args = ["verify", "-", "--request-id", "r-1", "--decision-id", "d-1", "--policy",
            "default@x", "--signature", signature]
    runner = CliRunner(env={"GATEKEEPER_SIGNING_KEY": "k1"})
    good = runner.invoke(main, args, input=value)
    assert good.exit_code == 0 and "valid" in good.output
    changed = runner.invoke(main, args, input=value + b"\n")
    assert changed.exit_code == 1 and "INVALID signature" in changed.output
