"""A non-editable install works away from the source tree: the wheel carries ``schemas/``
and ``policies/``, so ``gatekeeper policy check default``, ``policy list`` and
``gatekeeper simulate`` run from a fresh virtual environment.

The wheel is built from a copy of exactly what the Dockerfile copies (so a file missing
there fails here too), without build isolation when this environment can build wheels
(setuptools >= 70.1, in the dev extras), else with it. The fresh environment gets the
wheel alone (``--no-deps``); the dependencies come from this environment's site-packages
through a ``.pth`` line (which does not pull in this environment's editable install).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
# what the Dockerfile copies before `pip install .`
SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "gatekeeper", "schemas",
           "policies"]
HISTORY = (
    '{"kind": "event", "data": {"event_id": "e1", "debtor_id": "d1", "type": "profile", '
    '"occurred_at": "2026-03-01T00:00:00Z", "data": {"timezone": "America/New_York"}}}\n'
    '{"kind": "request", "data": {"request_id": "r1", "debtor_id": "d1", "channel": "call", '
    '"destination": "+12125550100", "requested_at": "2026-03-02T15:00:00Z"}}\n'
    '{"kind": "request", "data": {"request_id": "r2", "debtor_id": "d1", "channel": "call", '
    '"destination": "+12125550100", "requested_at": "2026-03-02T16:00:00Z"}}\n')

pytestmark = pytest.mark.packaging


def _can_build_without_isolation() -> bool:
    try:
        from importlib.metadata import version

        major, minor = (int(part) for part in version("setuptools").split(".")[:2])
    except Exception:  # noqa: BLE001 - no usable setuptools: build in isolation
        return False
    return (major, minor) >= (70, 1)


def _run(command: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([str(c) for c in command], capture_output=True, text=True,
                         timeout=240, **kwargs)  # type: ignore[call-overload]
    assert run.returncode == 0, f"{command}\n{run.stdout}\n{run.stderr}"
    return run


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh virtual environment holding the built wheel."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "_data", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    isolation = ["--no-build-isolation"] if _can_build_without_isolation() else []
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation,
          "-w", base / "dist", source])
    (wheel,) = (base / "dist").glob("gatekeeper-*.whl")

    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
          "--no-index", wheel])
    return venv / "bin"


def _clean_env() -> dict[str, str]:
    """Nothing pointing back at the source tree."""
    return {k: v for k, v in os.environ.items()
            if k not in ("GATEKEEPER_SCHEMAS", "GATEKEEPER_POLICIES", "PYTHONPATH")}


def test_the_installed_package_reads_its_own_data(installed: Path, tmp_path: Path) -> None:
    where = _run([installed / "python", "-c",
                  "import gatekeeper.paths as p; print(p.SCHEMAS); print(p.POLICIES)"],
                 cwd=tmp_path, env=_clean_env()).stdout.split()
    venv = installed.parent.resolve()
    schemas, policies = (Path(folder).resolve() for folder in where)
    for folder in (schemas, policies):
        assert venv in folder.parents and ROOT not in folder.parents, where
    assert {p.name for p in schemas.glob("*.schema.json")} == {
        p.name for p in (ROOT / "schemas").glob("*.schema.json")}
    assert {p.name for p in policies.glob("*.yaml")} == {
        p.name for p in (ROOT / "policies").glob("*.yaml")}


def test_policy_check_and_list_work_from_the_installed_package(installed: Path,
                                                               tmp_path: Path) -> None:
    check = _run([installed / "gatekeeper", "policy", "check", "default", "us-reg-f"],
                 cwd=tmp_path, env=_clean_env())
    assert "ok: default" in check.stdout and "ok: us-reg-f" in check.stdout
    listed = _run([installed / "gatekeeper", "policy", "list"], cwd=tmp_path, env=_clean_env())
    assert "us-nyc" in listed.stdout and "uk-conc" in listed.stdout


def test_simulate_works_from_the_installed_package(installed: Path, tmp_path: Path,
                                                   private_redis_url: str) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text(HISTORY)
    run = _run([installed / "gatekeeper", "simulate", history, "--policy", "default",
                "--redis", private_redis_url], cwd=tmp_path, env=_clean_env())
    decisions = [orjson.loads(line) for line in run.stdout.splitlines()]
    assert [(d["request_id"], d["decision"]) for d in decisions] == [("r1", "allowed"),
                                                                     ("r2", "blocked")]
    assert decisions[1]["reasons"][0]["rule"] == "default/calls-per-day-per-number"
