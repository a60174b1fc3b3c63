"""The differential test's oracle: decisions made by a given source tree for the mixed
history, in a compact form that is compared field by field.

``decide(tree, history_file)`` replays the history through ``gatekeeper simulate`` of the
source tree ``tree`` (this checkout, or an old commit unpacked elsewhere), with the packs
frozen in ``packs/`` (copies of ``policies/`` at the reference commit, and a test-only pack),
so that later edits of the shipped packs do not move the reference.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
PACKS = sorted((HERE / "packs").glob("*.yaml"))
EXPECTED_DECISIONS = HERE / "expected-decisions.jsonl.gz"
EXPECTED_POLICY_SHOW = HERE / "expected-policy-show.txt"

# Runs a tree's gatekeeper, whatever package the current interpreter has installed.
_BOOT = """
import sys
tree = sys.argv.pop(1)
sys.path.insert(0, tree)
import gatekeeper
assert gatekeeper.__file__.startswith(tree), gatekeeper.__file__
from gatekeeper.cli import main
sys.argv[0] = "gatekeeper"
main()
"""
_SHOW = """
import sys
tree = sys.argv[1]
sys.path.insert(0, tree)
import gatekeeper
assert gatekeeper.__file__.startswith(tree), gatekeeper.__file__
from gatekeeper.policy import load_pack
from gatekeeper.policy.describe import describe
for path in sys.argv[2:]:
    print(describe(load_pack(path)))
    print("-" * 40)
"""


def _reason(reason: dict[str, Any]) -> list[Any]:
    return [reason["rule"], reason["kind"], reason["message"], reason["limit"],
            reason["observed"], reason["retry_at"], reason["citation"]]


def project(decision: dict[str, Any]) -> list[Any]:
    """What is compared of a decision: every field but the derived ``decision_id`` and the
    ``policy`` (compared once, in the header)."""
    return [decision["request_id"], decision["debtor_id"], decision["decision"],
            decision["retry_at"], decision["evaluated_at"],
            [_reason(r) for r in decision["reasons"]], [_reason(r) for r in decision["shadow"]]]


def decide(tree: Path, history_file: Path, out_file: Path) -> list[dict[str, Any]]:
    """The decisions of ``tree``'s ``gatekeeper simulate`` (its own private redis-server)."""
    command = [sys.executable, "-c", _BOOT, str(tree), "simulate", str(history_file),
               "--out", str(out_file)]
    for pack in PACKS:
        command += ["--policy", str(pack)]
    run = subprocess.run(command, capture_output=True, text=True, cwd=tree)
    if run.returncode != 0:
        raise RuntimeError(f"simulate failed in {tree}:\n{run.stderr[-4000:]}")
    return [orjson.loads(line) for line in out_file.read_bytes().splitlines()]


def policy_show(tree: Path) -> str:
    """``policy show`` of every frozen pack, as ``tree`` words it."""
    run = subprocess.run([sys.executable, "-c", _SHOW, str(tree), *map(str, PACKS)],
                         capture_output=True, text=True, cwd=tree)
    if run.returncode != 0:
        raise RuntimeError(f"policy show failed in {tree}:\n{run.stderr[-4000:]}")
    return run.stdout


def write_expected(decisions: list[dict[str, Any]], header: dict[str, Any]) -> None:
    header = {**header, "policy": decisions[0]["policy"], "decisions": len(decisions)}
    body = orjson.dumps(header) + b"\n" + b"".join(
        orjson.dumps(project(d)) + b"\n" for d in decisions)
    EXPECTED_DECISIONS.write_bytes(gzip.compress(body, compresslevel=9, mtime=0))


def read_expected() -> tuple[dict[str, Any], list[list[Any]]]:
    lines = gzip.decompress(EXPECTED_DECISIONS.read_bytes()).splitlines()
    return orjson.loads(lines[0]), [orjson.loads(line) for line in lines[1:]]
