"""``debtor show``, ``decision show`` and ``policy list`` over what ``simulate`` stored in a
private Redis: rules by name, scopes in words, local periods, counts; unknown ids exit 1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gatekeeper.cli import main

WEEKLY = """
pack: weekly
title: a weekly cap per channel, destination kind and creditor (test)
applies_to: ["*"]
rules:
  - id: calls-a-week
    kind: limit
    citation: test
    channels: [call]
    max: 5
    window: {calendar: week}
    per: [channel, destination_kind, creditor]
"""
HISTORY = """\
{"kind": "event", "data": {"event_id": "e1", "debtor_id": "d1", "type": "profile", "occurred_at": "2026-03-01T00:00:00Z", "data": {"timezone": "America/New_York", "region": "US-NY", "days_past_due": 120}}}
{"kind": "request", "data": {"request_id": "r1", "debtor_id": "d1", "channel": "call", "destination": "+12125550100", "debt_id": "debt-9", "creditor_id": "cr-1", "destination_kind": "mobile", "requested_at": "2026-03-04T15:00:00Z"}}
{"kind": "outcome", "data": {"request_id": "r1", "debtor_id": "d1", "outcome": "voicemail", "occurred_at": "2026-03-04T15:01:00Z"}}
{"kind": "request", "data": {"request_id": "r2", "debtor_id": "d1", "channel": "call", "destination": "+12125550100", "debt_id": "debt-9", "creditor_id": "cr-1", "destination_kind": "mobile", "requested_at": "2026-03-04T16:00:00Z"}}
{"kind": "request", "data": {"request_id": "r3", "debtor_id": "d1", "channel": "call", "destination": "+12125550100", "requested_at": "2026-03-05T03:00:00Z"}}
{"kind": "request", "data": {"request_id": "l1", "debtor_id": "d1", "channel": "letter", "destination": "1 Main St", "requested_at": "2026-03-05T15:00:00Z", "content": {"amount_due": 100, "due_date": "2026-04-01", "payment_options": ["card"], "opt_out_instructions": "write to us"}}}
"""  # noqa: E501


@pytest.fixture
def stored(tmp_path: Path, private_redis_url: str) -> list[str]:
    """History replayed into the private Redis; returns the options naming Redis and packs."""
    pack = tmp_path / "weekly.yaml"
    pack.write_text(WEEKLY)
    history = tmp_path / "history.jsonl"
    history.write_text(HISTORY)
    policies = ["default", "us-reg-f", str(pack)]
    args = ["simulate", str(history), "--redis", private_redis_url]
    for policy in policies:
        args += ["--policy", policy]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return ["--redis", private_redis_url, "--policy", ",".join(policies)]


def _row(output: str, *cells: str) -> bool:
    """A counter row with these cells in order, separated by two spaces or more."""
    pattern = r"\s{2,}".join(re.escape(cell) for cell in cells)
    return re.search(r"^\s+" + pattern + r"\s*$", output, re.MULTILINE) is not None


def test_debtor_show_names_rules_scopes_local_periods_and_counts(stored: list[str]) -> None:
    result = CliRunner().invoke(main, ["debtor", "show", "d1", *stored])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "region US-NY  timezone America/New_York  days past due 120" in out
    # one call allowed per local day and number: r1 counted, r2 blocked, r3 out of hours
    assert re.search(r"default/calls-per-day-per-number\s+per number \(hashed [0-9a-f]{6}\)"
                     r"\s+2026-03-04\s+1$", out, re.MULTILINE), out
    assert re.search(r"us-reg-f/calls-7-in-7\s+per debt \(hashed [0-9a-f]{6}\)"
                     r"\s+2026-03-04 \(in 7-day windows\)\s+1$", out, re.MULTILINE), out
    assert _row(out, "default/letters-per-month", "per debtor", "2026-03", "1"), out
    assert re.search(r"weekly/calls-a-week\s+by call, per creditor \(hashed [0-9a-f]{6}\), "
                     r"to mobile destinations\s+week of 2026-03-02\s+1$", out, re.MULTILINE), out
    assert "+12125550100" not in out and "debt-9" not in out and "cr-1" not in out
    assert "last contact: 2026-03-05T15:00:00Z" in out
    # the letter l1 is the last contact, but the 3-hour gap counts calls, texts and visits only
    assert ("last contact counted by default/three-hours-between-contacts, to the debtor: "
            "2026-03-04T15:00:00Z") in out
    assert "decisions on record (for replays and outcomes): 4" in out
    assert "|" not in out  # no raw field names


def test_an_unknown_debtor_says_so(stored: list[str]) -> None:
    result = CliRunner().invoke(main, ["debtor", "show", "nobody", *stored])
    assert result.exit_code == 1
    assert "no debtor 'nobody': nothing is stored for it in this Redis" in result.output


def test_decision_show_reads_the_record(stored: list[str]) -> None:
    runner = CliRunner()
    allowed = runner.invoke(main, ["decision", "show", "r1", "--debtor", "d1", *stored])
    assert allowed.exit_code == 0, allowed.output
    assert "request r1 of debtor d1: decision on record" in allowed.output
    assert re.search(r"decision\s+allowed$", allowed.output, re.MULTILINE)
    assert re.search(r"evaluated at\s+2026-03-04T15:00:00Z$", allowed.output, re.MULTILINE)
    assert re.search(r"outcome\s+voicemail$", allowed.output, re.MULTILINE)
    assert re.search(r"reserved\s+us-reg-f/calls-7-in-7, per debt \(hashed", allowed.output)
    by_limit = runner.invoke(main, ["decision", "show", "r2", "--debtor", "d1", *stored])
    assert re.search(r"decision\s+blocked$", by_limit.output, re.MULTILINE)
    assert "blocked by           a limit, spacing or gap rule" in by_limit.output
    assert "last contact before  2026-03-04T15:00:00Z" in by_limit.output
    # default's 3 hours (per debtor), then Reg F's rapid succession (per number), in plan order
    assert ("gap contacts before  2026-03-04T15:00:00Z, 2026-03-04T15:00:00Z"
            in by_limit.output), by_limit.output
    static = runner.invoke(main, ["decision", "show", "r3", "--debtor", "d1", *stored])
    assert re.search(r"blocked by\s+default/quiet-hours, us-reg-f/inconvenient-hours$",
                     static.output, re.MULTILINE), static.output


def test_decision_show_without_a_record_or_without_the_debtor(stored: list[str]) -> None:
    runner = CliRunner()
    other = runner.invoke(main, ["decision", "show", "r1", "--debtor", "d2", *stored])
    assert other.exit_code == 1
    assert "no decision on record for request 'r1' of debtor 'd2'" in other.output
    missing = runner.invoke(main, ["decision", "show", "r1", *stored])
    assert missing.exit_code == 2
    assert "give the request's debtor: --debtor DEBTOR_ID" in missing.output


def test_policy_list_shows_every_shipped_pack() -> None:
    result = CliRunner().invoke(main, ["policy", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["pack", "applies", "to", "rules", "title"]
    assert re.search(r"^default\s+\*\s+\d+\s+gatekeeper baseline contact policy$",
                     result.output, re.MULTILINE)
    assert re.search(r"^us-nyc\s+US-NY \(postal codes 100, 101, 102 \+\d+ more\)\s+\d+ "
                     r"\(\d+ shadow\)", result.output, re.MULTILINE)
    names = {line.split()[0] for line in lines[1:]}
    assert {"default", "us-reg-f", "ca-on", "uk-conc"} <= names
