"""The README and docs/ point only at files a clone of the repository has."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_relative_links_resolve_inside_the_repository() -> None:
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+:", target):
                continue  # http:, https:, mailto:
            resolved = (doc.parent / target).resolve()
            assert resolved.exists(), f"{doc.name}: link to {target} does not resolve"
            assert ROOT in resolved.parents or resolved == ROOT, f"{doc.name}: {target}"
        assert "../shared/" not in text, f"{doc.name} points outside the repository"


def test_the_contract_is_in_the_repository() -> None:
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    assert "## Part 1: the contract" in design
    assert "[docs/DESIGN.md](docs/DESIGN.md)" in (ROOT / "README.md").read_text()
