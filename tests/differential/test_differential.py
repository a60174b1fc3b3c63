"""Differential test: a large generated history (mixed_history.py) decided by this code must
give exactly the decisions the reference commit gave (expected-decisions.jsonl.gz, made by
regenerate.py): decision, every reason (rule, kind, message, limit, observed, retry_at,
citation), shadow reasons, retry_at, evaluation time and policy version, request by request.
``policy show`` of every pack must read as it did too."""

from __future__ import annotations

from pathlib import Path

import mixed_history
import oracle
import orjson
import pytest

TREE = Path(__file__).resolve().parents[2]


def test_the_history_is_large_and_mixed() -> None:
    lines = mixed_history.history()
    kinds = {kind: sum(1 for line in lines if line["kind"] == kind)
             for kind in ("request", "event", "outcome")}
    assert kinds["request"] >= 5000 and kinds["event"] >= 1000 and kinds["outcome"] >= 3000
    debtors = {line["data"]["debtor_id"] for line in lines}
    assert len(debtors) >= 300
    assert lines == mixed_history.history(), "the same seed must give the same history"


@pytest.mark.timeout(600)
def test_every_decision_is_the_reference_decision(tmp_path: Path) -> None:
    header, expected = oracle.read_expected()
    history_file = tmp_path / "history.jsonl"
    history_file.write_bytes(b"".join(orjson.dumps(line) + b"\n"
                                      for line in mixed_history.history(header["seed"])))
    decisions = oracle.decide(TREE, history_file, tmp_path / "decisions.jsonl")
    assert len(decisions) == header["decisions"] == len(expected)
    assert {d["policy"] for d in decisions} == {header["policy"]}
    differences = [(want, oracle.project(got)) for want, got in zip(expected, decisions,
                                                                     strict=True)
                   if oracle.project(got) != want]
    shown = "\n".join(f"expected {orjson.dumps(w).decode()}\n     got {orjson.dumps(g).decode()}"
                      for w, g in differences[:5])
    assert not differences, f"{len(differences)} decisions differ from {header['commit']}:\n{shown}"


def test_policy_show_reads_as_before() -> None:
    assert oracle.policy_show(TREE) == oracle.EXPECTED_POLICY_SHOW.read_text()
