"""Settings of gatekeeper serve: defaults, and bad values that name their variable."""

from __future__ import annotations

import pytest

from gatekeeper.http.settings import HttpSettings, HttpSettingsError


def test_defaults_bind_loopback_8080_and_keys_under_the_config_home() -> None:
    settings = HttpSettings.from_env({"HOME": "/home/ops"})
    assert settings.address() == ("127.0.0.1", 8080)
    assert settings.api_keys_dir == "/home/ops/.config/gatekeeper"
    assert settings.max_body == 256 * 1024
    assert HttpSettings.from_env({"XDG_CONFIG_HOME": "/etc/x"}).api_keys_dir == "/etc/x/gatekeeper"


@pytest.mark.parametrize(("bind", "address"), [("0.0.0.0:9000", ("0.0.0.0", 9000)),
                                               (":9000", ("0.0.0.0", 9000)),
                                               ("[::1]:8081", ("::1", 8081))])
def test_bind_forms(bind: str, address: tuple[str, int]) -> None:
    assert HttpSettings.from_env({"GATEKEEPER_HTTP": bind}).address() == address


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("GATEKEEPER_HTTP", "localhost", "HOST:PORT such as 127.0.0.1:8080"),
    ("GATEKEEPER_HTTP", "127.0.0.1:99999", "HOST:PORT such as 127.0.0.1:8080"),
    ("GATEKEEPER_HTTP_AUDIT_BUFFER", "lots", "a whole number above 0"),
    ("GATEKEEPER_HTTP_MAX_BODY", "0", "a whole number above 0"),
    ("GATEKEEPER_HTTP_AUDIT_WAIT", "-1", "a number of seconds, 0 or more"),
    ("GATEKEEPER_HTTP_BATCH_WINDOW", "soon", "a number of seconds, 0 or more"),
    ("GATEKEEPER_HTTP_BATCHES", "0", "a whole number above 0"),
])
def test_a_bad_value_names_the_variable_the_expectation_and_the_value(
        variable: str, value: str, expected: str) -> None:
    with pytest.raises(HttpSettingsError) as caught:
        HttpSettings.from_env({variable: value})
    assert str(caught.value) == f"{variable}: expected {expected}, found {value!r}"


def test_flags_override_the_environment() -> None:
    settings = HttpSettings.from_env({"GATEKEEPER_HTTP": "127.0.0.1:1"}, bind="127.0.0.1:2",
                                     api_keys_dir="/k")
    assert settings.address() == ("127.0.0.1", 2) and settings.api_keys_dir == "/k"
