"""The closed policy format: each error fixture names its expected message on line 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.errors import PolicyError
from gatekeeper.paths import POLICIES
from gatekeeper.policy import load_pack, load_policy

FIXTURES = sorted((Path(__file__).parent / "policy_errors").glob("*.yaml"))


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_each_error_names_file_path_and_problem(fixture: Path) -> None:
    expected = fixture.read_text().splitlines()[0].removeprefix("# expect: ")
    with pytest.raises(PolicyError) as caught:
        load_pack(str(fixture))
    assert expected in str(caught.value)
    assert str(caught.value).startswith(str(fixture))


def test_there_is_a_fixture_per_error_class() -> None:
    assert len(FIXTURES) >= 15


def test_every_shipped_pack_loads() -> None:
    for path in sorted(POLICIES.glob("*.yaml")):
        pack = load_pack(path.stem)
        assert pack.name == path.stem
        assert all(rule.citation for rule in pack.rules)


def test_unknown_pack_names_the_known_ones() -> None:
    with pytest.raises(PolicyError, match="no such policy pack .*default"):
        load_pack("atlantis")


def test_policy_version_changes_with_content(tmp_path: Path) -> None:
    source = (POLICIES / "default.yaml").read_text()
    first = tmp_path / "a.yaml"
    first.write_text(source)
    second = tmp_path / "b.yaml"
    second.write_text(source.replace("max: 2", "max: 3"))
    v1, v2 = load_policy([str(first)]).version, load_policy([str(second)]).version
    assert v1.startswith("default@") and v1 != v2
    assert load_policy("default").version == load_policy(["default"]).version


def test_a_pack_given_twice_is_refused() -> None:
    with pytest.raises(PolicyError, match="given twice"):
        load_policy("default,default")


def test_regions_select_packs() -> None:
    from gatekeeper.policy.model import Pack

    pack = Pack("p", "t", ("US", "CA-ON"), (), "p.yaml", "0")
    assert pack.applies("US") and pack.applies("US-MA") and pack.applies("CA-ON")
    assert not pack.applies("CA-BC") and not pack.applies("USA")
    assert pack.applies(None)  # unknown region: every pack (conservative)


def test_anchors_and_merge_keys_are_not_duplicate_keys() -> None:
    from gatekeeper.policy.load import parse_pack

    text = """
pack: x
title: t
applies_to: ["*"]
rules:
  - &base {id: a, kind: hours, citation: c, windows: &days {mon-fri: ["08:00-21:00"]}}
  - {<<: *base, id: b, windows: *days, holidays: block}
"""
    pack = parse_pack(text, "x.yaml")
    assert [r.id for r in pack.rules] == ["a", "b"]
    assert pack.rules[1].params.get("holidays") == "block"


def test_a_text_above_the_size_limit_is_refused_before_parsing() -> None:
    from gatekeeper.policy.load import MAX_POLICY_BYTES, parse_pack

    text = "pack: x\n" + "#" * MAX_POLICY_BYTES
    with pytest.raises(PolicyError, match="at most 1 MiB"):
        parse_pack(text, "big.yaml")
