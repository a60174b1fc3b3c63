"""The one broker-URL parser: single and multi-broker URLs, with and without a scheme."""

from __future__ import annotations

import pytest

from gatekeeper import brokers
from gatekeeper.brokers import BrokerURLError, bootstrap, hosts
from gatekeeper.errors import GatekeeperError


@pytest.mark.parametrize(("url", "expected"), [
    ("kafka://127.0.0.1:9092", "127.0.0.1:9092"),
    ("kafka://127.0.0.1:9092/", "127.0.0.1:9092"),
    ("127.0.0.1:9092", "127.0.0.1:9092"),
    ("aiokafka://broker:19092", "broker:19092"),
    ("KAFKA://broker:9092", "broker:9092"),
    ("  kafka://broker  ", "broker"),
    ("kafka://[::1]:9092", "[::1]:9092"),
])
def test_a_single_broker_with_or_without_scheme(url: str, expected: str) -> None:
    assert bootstrap(url) == expected


@pytest.mark.parametrize("url", [
    "kafka://h1:9092,kafka://h2:9093",
    "kafka://h1:9092;kafka://h2:9093",
    "kafka://h1:9092;h2:9093",
    "kafka://h1:9092,h2:9093",
    "h1:9092, h2:9093",
    "h1:9092;;h2:9093;",
    "kafka://h1:9092/, kafka://h2:9093/",
])
def test_several_brokers_in_every_accepted_spelling(url: str) -> None:
    assert bootstrap(url) == "h1:9092,h2:9093"
    assert hosts(url) == ["h1:9092", "h2:9093"]


@pytest.mark.parametrize(("url", "says"), [
    ("", "no broker in it"),
    (" ; , ", "no broker in it"),
    ("kafka://", "expected host:port, found ''"),
    ("http://h1:9092", "found scheme 'http://'"),
    ("kafka://h1:9092,redis://h2:6379", "found scheme 'redis://'"),
    ("kafka://h1:port", "expected a port number from 1 to 65535, found 'port'"),
    ("kafka://h1:0", "found '0'"),
    ("kafka://h1:70000", "found '70000'"),
    ("kafka://h1:9092:1", "expected host:port, found 'h1:9092:1'"),
    ("kafka://user@h1:9092", "expected host:port"),
])
def test_a_broken_url_is_a_clear_error_naming_the_variable(url: str, says: str) -> None:
    with pytest.raises(BrokerURLError) as caught:
        bootstrap(url)
    message = str(caught.value)
    assert message.startswith("GATEKEEPER_BROKER: ")
    assert says in message
    assert repr(url) in message  # what was found, whole
    assert isinstance(caught.value, GatekeeperError) and isinstance(caught.value, ValueError)


def test_the_variable_named_in_errors_can_be_another_one() -> None:
    with pytest.raises(BrokerURLError, match="^--broker: "):
        bootstrap("nope://x", variable="--broker")


def test_every_broker_url_parse_goes_through_this_module() -> None:
    """No other module splits a broker URL by hand (the old copies broke multi-broker URLs)."""
    from pathlib import Path

    root = Path(brokers.__file__).resolve().parents[1]
    offenders = []
    for folder in ("gatekeeper", "tests", "benchmarks", "scripts"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text()
            if path.name in ("brokers.py", "test_brokers.py"):
                continue
            if 'removeprefix("kafka://")' in text or 'split("://"' in text:
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
