"""History lines for simulate: each parsed with its number, each problem named."""

from __future__ import annotations

import re
from pathlib import Path

from gatekeeper.history import BadLine, Entry, parse_line
from gatekeeper.model import ContactOutcome, ContactRequest, DebtorEvent

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_example_lines_are_a_valid_history() -> None:
    section = README.read_text().split("### `simulate` input", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith('{"kind"')]
    parsed = [parse_line(n, line.encode()) for n, line in enumerate(lines, 1)]
    assert [type(p) for p in parsed] == [Entry, Entry, Entry], parsed
    assert [type(p.record) for p in parsed if isinstance(p, Entry)] == [
        DebtorEvent, ContactRequest, ContactOutcome]


def test_each_kind_of_bad_line_is_named() -> None:
    cases = {
        b"{not json": r"^not JSON: ",
        b"[1, 2]": r'^expected an object \{"kind": \.\.\., "data": \{\.\.\.\}\}, found \[1, 2\]$',
        b'{"kind": "cease", "data": {}}': r"^kind: expected one of request, event, outcome, "
                                          r"cancel, found 'cease'$",
        b'{"kind": "cancel", "data": {"cancel": "r1"}}': r"^cancel: message must contain",
        b'{"kind": "event", "data": 3}': r"^event: data: expected an object, found 3$",
        b'{"kind": "outcome", "data": {"request_id": "r"}}': r"^outcome: message must contain",
    }
    for line, pattern in cases.items():
        parsed = parse_line(7, line)
        assert isinstance(parsed, BadLine), line
        assert parsed.number == 7 and re.search(pattern, parsed.problem), parsed.problem
        assert parsed.describe("h.jsonl").startswith("h.jsonl:7: ")
