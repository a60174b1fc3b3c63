"""``review tail`` / ``invalid tail`` against a broker that is not there or does not answer:
a message and exit code 1 within the timeout, never a traceback or a silent wait."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from gatekeeper.cli import main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_broker() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung broker)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("topic", ["review", "invalid"])
def test_nothing_listening_is_a_message(topic: str) -> None:
    port = _free_port()
    result = CliRunner().invoke(main, [topic, "tail", "--broker", f"kafka://127.0.0.1:{port}",
                                       "--timeout", "5"])
    assert result.exit_code == 1
    assert f"Error: cannot reach Kafka at 127.0.0.1:{port}: the connection failed" \
        in result.output
    assert "GATEKEEPER_BROKER" in result.output and "Traceback" not in result.output


def test_a_broker_that_does_not_answer_gives_up_in_time(silent_broker: int) -> None:
    started = time.monotonic()
    result = CliRunner().invoke(main, ["review", "tail", "--broker",
                                       f"127.0.0.1:{silent_broker}", "--timeout", "2"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert f"cannot reach Kafka at 127.0.0.1:{silent_broker}: no answer within 2 s" \
        in result.output
    assert elapsed < 10


def test_check_against_no_broker_is_a_message() -> None:
    port = _free_port()
    result = CliRunner().invoke(main, ["check", "--broker", f"kafka://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert f"cannot read the topics from Kafka at kafka://127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output
