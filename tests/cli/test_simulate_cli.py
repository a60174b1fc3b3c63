"""``gatekeeper simulate --skip-invalid``: bad lines reported with their numbers, the rest
replayed; a bad request still gets its ``invalid`` decision, a bad event is left out."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from gatekeeper.cli import main

PROFILE = ('{"kind": "event", "data": {"event_id": "e1", "debtor_id": "d1", "type": "profile", '
           '"occurred_at": "2026-03-01T00:00:00Z", "data": {"timezone": "America/New_York"}}}')
CEASE = ('{"kind": "event", "data": {"event_id": "e2", "debtor_id": "d1", "type": "%s", '
         '"occurred_at": "2026-03-01T00:00:00Z"}}')
CALL = ('{"kind": "request", "data": {"request_id": "%s", "debtor_id": "d1", "channel": "%s", '
        '"destination": "+12125550100", "requested_at": "2026-03-02T15:00:00Z"}}')


def test_skip_invalid_reports_bad_lines_and_replays_the_rest(tmp_path: Path,
                                                             private_redis_url: str) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join([PROFILE, CEASE % "ceese", CALL % ("r1", "fax"),
                                  CALL % ("r2", "call")]) + "\n")
    out = tmp_path / "decisions.jsonl"
    result = CliRunner().invoke(main, ["simulate", str(history), "--policy", "default",
                                       "--redis", private_redis_url, "--out", str(out),
                                       "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert f"{history}:2: event: type must be one of" in result.output
    assert "found 'ceese' (left out)" in result.output
    assert f"{history}:3: request: channel must be one of" in result.output
    assert "found 'fax' (decision: invalid)" in result.output
    decisions = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert [(d["request_id"], d["decision"]) for d in decisions] == [("r1", "invalid"),
                                                                     ("r2", "allowed")]
    message = decisions[0]["reasons"][0]["message"]
    assert message.startswith("line 3: request: channel must be one of")


def test_a_correct_cease_event_is_applied(tmp_path: Path, private_redis_url: str) -> None:
    """The same history with the event spelled right: the call is blocked."""
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join([PROFILE, CEASE % "cease", CALL % ("r2", "call")]) + "\n")
    result = CliRunner().invoke(main, ["simulate", str(history), "--policy", "default",
                                       "--redis", private_redis_url])
    assert result.exit_code == 0, result.output
    decision = orjson.loads(result.stdout.splitlines()[0])
    assert decision["decision"] == "blocked"
    assert [r["rule"] for r in decision["reasons"]] == ["default/cease-and-status"]
