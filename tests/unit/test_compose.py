"""docker-compose.yml cannot be run here (no Docker engine): check what can be checked.
It parses; the worker's metrics endpoint listens on every interface of the container on
the published port; it has its own hash key; its healthcheck is valid Python probing that
port; its command exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from gatekeeper.cli import main

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _worker() -> dict[str, object]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    worker: dict[str, object] = services["worker"]
    return worker


def test_the_metrics_endpoint_is_reachable_through_the_published_port() -> None:
    worker = _worker()
    env = worker["environment"]
    assert isinstance(env, dict)
    assert env["GATEKEEPER_METRICS_HOST"] == "0.0.0.0"
    port = str(env["GATEKEEPER_METRICS_PORT"])
    published = [str(p) for p in worker["ports"]]  # type: ignore[attr-defined]
    assert f"127.0.0.1:{port}:{port}" in published
    assert str(env["GATEKEEPER_HASH_KEY"]).startswith("${GATEKEEPER_HASH_KEY:?")


def test_the_healthcheck_probes_the_metrics_port_with_valid_python() -> None:
    worker = _worker()
    check = worker["healthcheck"]
    assert isinstance(check, dict)
    test = check["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "<healthcheck>", "exec")
    env = worker["environment"]
    assert isinstance(env, dict)
    assert re.search(rf"http://127\.0\.0\.1:{env['GATEKEEPER_METRICS_PORT']}/metrics", test[3])


def test_the_worker_command_exists() -> None:
    command = _worker()["command"]
    assert isinstance(command, list) and command[0] == "gatekeeper"
    result = CliRunner().invoke(main, [*command[1:], "--help"])
    assert result.exit_code == 0 and "--bind" in result.output
