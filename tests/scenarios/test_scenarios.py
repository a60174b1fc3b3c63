"""Scenario files: history replayed through ``gatekeeper simulate``, decisions asserted.

A scenario is a JSON-lines file under ``tests/scenarios/<pack>/``. A line ``# policy: a, b``
names the packs (default: the folder's name); every request line may carry an ``expect``
object, checked against the Decision that simulate writes for it:

    {"kind": "request", "data": {...}, "expect": {"decision": "blocked",
     "rules": ["us-reg-f/calls-7-in-7"], "retry_at": "2026-03-09T12:00:00Z"}}

``rules`` is the exact set of blocking rules; ``shadow`` the exact set of shadow rules;
``retry_at`` may be null. Lines without ``expect`` only build up history. A request with
``on_block: defer`` that is deferred expects ``"decision": "deferred"`` (and may check
``deferred_until``), and ``later``: the decisions made when it is due, in order (each may
check ``evaluated_at``); they must appear in the output in time order. A ``cancel`` line may expect
``{"found": ...}``: what the cancel found (cancelled, released, reviewed, unknown).
A file that expects ``invalid`` decisions runs with ``--skip-invalid`` (else a bad line
stops the run); simulate must then report no bad line but those request lines.
New rules get new files: nothing here needs editing to add one.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

HERE = Path(__file__).parent
SCENARIOS = sorted(HERE.glob("*/*.jsonl"))


def _policies(path: Path) -> list[str]:
    for line in path.read_text().splitlines():
        if line.startswith("# policy:"):
            return [p.strip() for p in line.removeprefix("# policy:").split(",") if p.strip()]
    return [path.parent.name]


def _expectations(path: Path, kind: str = "request"
                  ) -> list[tuple[int, dict[str, object] | None]]:
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        item = orjson.loads(line)
        if item.get("kind") == kind:
            out.append((number, item.get("expect")))
    return out


@pytest.fixture(scope="session")
def private_redis() -> object:
    from gatekeeper.redis_server import PrivateRedis

    with PrivateRedis() as server:
        yield server


@pytest.mark.parametrize("path", SCENARIOS, ids=[f"{p.parent.name}/{p.stem}" for p in SCENARIOS])
def test_scenario(path: Path, private_redis: object, tmp_path: Path) -> None:
    import redis

    url = private_redis.url  # type: ignore[attr-defined]
    redis.Redis.from_url(url).flushall()
    out = tmp_path / "decisions.jsonl"
    command = [sys.executable, "-m", "gatekeeper", "simulate", str(path), "--redis", url,
               "--out", str(out)]
    for policy in _policies(path):
        command += ["--policy", policy]
    expectations = _expectations(path)
    expected_invalid = {n for n, e in expectations if e and e.get("decision") == "invalid"}
    if expected_invalid:
        command.append("--skip-invalid")
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    reported = {int(n) for n in re.findall(rf"^{re.escape(str(path))}:(\d+): ", run.stderr,
                                           re.MULTILINE)}
    assert reported <= expected_invalid and "(left out)" not in run.stderr, run.stderr
    written = [orjson.loads(line) for line in out.read_text().splitlines()]
    cancels = [d for d in written if "cancel" in d]  # one per cancel line
    decisions = [d for d in written if "attempt" not in d and "cancel" not in d]  # per request
    later: dict[str, list[dict[str, object]]] = {}  # deferred ones decided again, in order
    for before, line in zip(written, written[1:], strict=False):
        if "attempt" in line or "attempt" in before:  # released in time order
            assert before["evaluated_at"] <= line["evaluated_at"], f"{before} before {line}"
    for line in written:
        if "attempt" in line:
            later.setdefault(str(line["request_id"]), []).append(line)
    assert len(decisions) == len(expectations), "one decision per request line"
    checked = 0
    for (number, expect), decision in zip(expectations, decisions, strict=True):
        if not expect:
            continue
        checked += 1
        where = f"{path.name}:{number} ({decision['request_id']})"
        _check(expect, decision, where)
        then = later.get(str(decision["request_id"]), [])
        assert len(then) == len(expect.get("later", [])), f"{where}: decided later {then}"
        for step, (wanted, got) in enumerate(zip(expect.get("later", []), then, strict=True), 1):
            _check(wanted, got, f"{where}, attempt {step}")
    cancel_lines = _expectations(path, "cancel")
    assert len(cancels) == len(cancel_lines), "one line per cancel line"
    for (number, expect), cancel in zip(cancel_lines, cancels, strict=True):
        if expect:
            assert cancel["found"] == expect["found"], f"{path.name}:{number}: {cancel}"
    assert checked, f"{path.name} asserts nothing"


def _check(expect: dict[str, Any], decision: dict[str, Any], where: str) -> None:
    got_rules = sorted(r["rule"] for r in decision["reasons"])
    assert decision["decision"] == expect["decision"], f"{where}: {decision}"
    if "rules" in expect:
        assert got_rules == sorted(expect["rules"]), f"{where}: {decision['reasons']}"
    if "shadow" in expect:
        got = sorted(r["rule"] for r in decision["shadow"])
        assert got == sorted(expect["shadow"]), f"{where}: {decision['shadow']}"
    for field in ("retry_at", "deferred_until", "evaluated_at"):
        if field in expect:
            assert decision.get(field) == expect[field], f"{where}: {decision}"
    if "message" in expect:
        assert any(expect["message"] in r["message"] for r in decision["reasons"]), where
