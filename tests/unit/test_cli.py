"""The command line's offline commands (no sockets)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from gatekeeper.cli import main


def test_policy_check_reports_each_pack_and_fails_on_errors() -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["policy", "check", "default", "us-reg-f"])
    assert ok.exit_code == 0
    assert "ok: default" in ok.output and "ok: us-reg-f" in ok.output
    bad_file = Path(__file__).parent / "policy_errors" / "negative-max.yaml"
    bad = runner.invoke(main, ["policy", "check", str(bad_file)])
    assert bad.exit_code == 1
    assert "rules[0].max: expected a whole number >= 0, found -1" in bad.output


def test_policy_show_reads_like_a_rulebook() -> None:
    result = CliRunner().invoke(main, ["policy", "show", "us-reg-f"])
    assert result.exit_code == 0
    assert "12 CFR 1006.14(b)(2)(i)" in result.output
    assert "citation:" in result.output and "rule:" in result.output


def test_verify_accepts_a_good_signature_and_refuses_a_bad_one(tmp_path: Path) -> None:
    from gatekeeper.signing import sign

    message = tmp_path / "value.json"
    message.write_bytes(b'{"request_id": "r-1"}')
    signature = sign(b"k1", "r-1", "d-1", "default@x", message.read_bytes())
    args = ["verify", str(message), "--request-id", "r-1", "--decision-id", "d-1",
            "--policy", "default@x"]
    runner = CliRunner(env={"GATEKEEPER_SIGNING_KEY": "k2,k1"})
    assert runner.invoke(main, [*args, "--signature", signature]).exit_code == 0
    tampered = runner.invoke(main, [*args, "--signature", signature.replace("a", "b", 1)])
    assert tampered.exit_code == 1 and "INVALID" in tampered.output


def test_a_broken_broker_url_is_a_message_not_a_traceback() -> None:
    runner = CliRunner(env={"GATEKEEPER_SIGNING_KEY": "k"})
    for args in (["worker", "--broker", "http://h1:9092"], ["check", "--broker", "kafka://h1:x"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith("Error: GATEKEEPER_BROKER: expected "), result.output
        assert "Traceback" not in result.output and result.exception is not None
        assert isinstance(result.exception, SystemExit)


def test_the_demo_refuses_a_broken_broker_url_before_touching_anything() -> None:
    runner = CliRunner(env={"GATEKEEPER_BROKER": "kafka://h1:9092;redis://h2"})
    result = runner.invoke(main, ["demo", "--redis", "redis://127.0.0.1:1/14"])
    assert result.exit_code == 1
    assert "GATEKEEPER_BROKER: expected kafka://host:port" in str(result.exception)
    assert "found scheme 'redis://'" in str(result.exception)
