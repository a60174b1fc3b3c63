"""Settings from the environment: a bad number names the variable, the type and the value."""

from __future__ import annotations

from dataclasses import fields

import pytest
from click.testing import CliRunner

from gatekeeper.cli import main
from gatekeeper.errors import ConfigError
from gatekeeper.settings import Settings

NUMERIC = [f.name for f in fields(Settings) if f.type in ("int", "float")]


def test_there_are_numeric_settings_to_check() -> None:
    assert {"metrics_port", "batch_size", "batch_within"} <= set(NUMERIC)


@pytest.mark.parametrize("name", NUMERIC)
def test_a_bad_number_names_the_variable_the_type_and_the_value(name: str) -> None:
    variable = f"GATEKEEPER_{name.upper()}"
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: "abc"})
    kind = "a whole number" if dict((f.name, f.type) for f in fields(Settings))[name] == "int" \
        else "a number"
    assert str(caught.value) == f"{variable}: expected {kind}, found 'abc'"


def test_good_numbers_are_converted() -> None:
    settings = Settings.from_env({"GATEKEEPER_METRICS_PORT": "9200",
                                  "GATEKEEPER_BATCH_WITHIN": "0.5"})
    assert settings.metrics_port == 9200 and settings.batch_within == 0.5


def test_the_command_line_prints_the_message_not_a_traceback() -> None:
    result = CliRunner(env={"GATEKEEPER_METRICS_PORT": "abc"}).invoke(
        main, ["debtor", "show", "d-1"])
    assert result.exit_code == 1
    assert "GATEKEEPER_METRICS_PORT: expected a whole number, found 'abc'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("variable", "value", "least"), [
    ("GATEKEEPER_DEFER_HORIZON", "-1", "0"), ("GATEKEEPER_DEFER_MAX_ATTEMPTS", "0", "1"),
    ("GATEKEEPER_DEFER_RELEASE_RATE", "0.5", "1")])
def test_deferral_settings_below_their_least_name_the_variable(variable: str, value: str,
                                                               least: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert str(caught.value) == f"{variable}: expected at least {least}, found '{value}'"


def test_read_ahead_is_off_by_default_and_takes_0_or_1_only() -> None:
    assert Settings.from_env({}).read_ahead == 0
    assert Settings.from_env({"GATEKEEPER_READ_AHEAD": "1"}).read_ahead == 1
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"GATEKEEPER_READ_AHEAD": "2"})
    assert str(caught.value) == "GATEKEEPER_READ_AHEAD: expected 0 (off) or 1, found '2'"
