"""The console's commands: messages, not tracebacks."""

from __future__ import annotations

from click.testing import CliRunner

from gatekeeper.cli import main


def test_users_add_reads_the_password_from_standard_input_and_lists(tmp_path):
    runner = CliRunner()
    env = {"GATEKEEPER_CONSOLE_DIR": str(tmp_path)}
    done = runner.invoke(main, ["users", "add", "rita", "--role", "reviewer"],
                         input="correct horse battery\n", env=env)
    assert done.exit_code == 0, done.output
    assert "account rita added (reviewer)" in done.output
    listed = runner.invoke(main, ["users", "list"], env=env)
    assert listed.output.split() == ["rita", "reviewer", "active"]
    again = runner.invoke(main, ["users", "add", "rita", "--role", "viewer"],
                          input="correct horse battery\n", env=env)
    assert again.exit_code == 1 and "name: an account 'rita' exists already" in again.output


def test_users_add_names_what_is_wrong(tmp_path):
    runner = CliRunner()
    env = {"GATEKEEPER_CONSOLE_DIR": str(tmp_path)}
    short = runner.invoke(main, ["users", "add", "bob", "--role", "admin"], input="short\n",
                          env=env)
    assert short.exit_code == 1
    assert "password: expected at least 10 characters, found 5" in short.output
    role = runner.invoke(main, ["users", "add", "bob", "--role", "boss"], input="x\n", env=env)
    assert role.exit_code == 2 and "'boss' is not one of 'viewer', 'reviewer', 'admin'" in \
        role.output
    bad_setting = runner.invoke(main, ["users", "list"],
                                env={"GATEKEEPER_CONSOLE_LOCKOUT_FAILURES": "many"})
    assert bad_setting.exit_code == 1
    assert "GATEKEEPER_CONSOLE_LOCKOUT_FAILURES: expected a whole number, found 'many'" in \
        bad_setting.output


def test_audit_verify_says_when_kafka_does_not_answer():
    done = CliRunner().invoke(main, ["audit", "verify", "--broker", "kafka://127.0.0.1:9"])
    assert done.exit_code == 1
    assert "cannot read console.audit from Kafka at kafka://127.0.0.1:9" in done.output
