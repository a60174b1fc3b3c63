"""The metrics endpoint binds the configured address (loopback by default; 0.0.0.0 in a
container), from GATEKEEPER_METRICS_HOST or ``worker --bind``."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from typing import Any

import pytest
from click.testing import CliRunner

from gatekeeper import metrics
from gatekeeper.cli import main
from gatekeeper.settings import Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_endpoint_listens_on_the_configured_address_only() -> None:
    settings = Settings.from_env({"GATEKEEPER_METRICS_HOST": "127.0.0.2",
                                  "GATEKEEPER_METRICS_PORT": str(_free_port())})
    assert Settings.from_env({}).metrics_host == "127.0.0.1"
    server = metrics.serve(settings.metrics_port, settings.metrics_host)
    assert server is not None
    try:
        body = urllib.request.urlopen(f"http://127.0.0.2:{settings.metrics_port}/metrics",
                                      timeout=5).read()
        assert b"gatekeeper_decisions_total" in body
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"http://127.0.0.1:{settings.metrics_port}/metrics",
                                   timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_worker_bind_flag_reaches_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stops the worker at the endpoint (no Kafka here): --bind must arrive there."""
    import gatekeeper.topics

    served: list[tuple[Any, ...]] = []

    async def no_topics(settings: Settings, **_: Any) -> list[str]:
        return []

    class Stop(Exception):
        pass

    def serve(port: int, host: str = "127.0.0.1") -> None:
        served.append((port, host))
        raise Stop

    monkeypatch.setattr(gatekeeper.topics, "ensure_topics", no_topics)
    monkeypatch.setattr(metrics, "serve", serve)
    result = CliRunner(env={"GATEKEEPER_SIGNING_KEY": "k", "GATEKEEPER_HASH_KEY": "h"}).invoke(
        main, ["worker", "--bind", "0.0.0.0", "--metrics-port", "9999"])
    assert isinstance(result.exception, Stop), result.output
    assert served == [(9999, "0.0.0.0")]
