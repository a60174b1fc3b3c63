"""The days_past_due band filter ({min, max}, both ends included) on any rule, and the
cadence pack that uses it: a rule outside its band is neither checked nor counted; an
unknown figure is inside every band."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders import CONTENT, plan, request, state

from gatekeeper.policy import load_pack
from gatekeeper.policy.describe import describe
from gatekeeper.policy.model import Band

NOON_NY = "2026-03-02T17:00:00Z"
NY = {"timezone": "America/New_York", "region": "US"}
TIERS = """
pack: tiers
title: t
applies_to: ["*"]
rules:
  - {id: early, kind: limit, citation: c, max: 1, window: {rolling_days: 7},
     days_past_due: {max: 29}}
  - {id: middle, kind: limit, citation: c, max: 2, window: {rolling_days: 7},
     days_past_due: {min: 30, max: 89}}
  - {id: late, kind: status, citation: c, statuses: [dispute], days_past_due: {min: 90}}
"""


@pytest.fixture
def tiers(tmp_path: Path) -> str:
    path = tmp_path / "tiers.yaml"
    path.write_text(TIERS)
    return str(path)


def checked(packs: str, days: int | None, **fields: Any) -> list[str]:
    debtor = {**NY, "days_past_due": days} if days is not None else NY
    p = plan(request(debtor=debtor, **fields), NOON_NY, packs=packs,
             debtor_state=state({"type": "dispute"}))
    return sorted([c.rule.id for c in p.checks] + [r.rule.split("/")[1] for r in p.blocking])


@pytest.mark.parametrize(("days", "rules"), [
    (0, ["early"]), (29, ["early"]), (30, ["middle"]), (89, ["middle"]), (90, ["late"]),
    (None, ["early", "late", "middle"]),  # unknown: every band applies
])
def test_a_rule_applies_inside_its_band_both_ends_included(tiers: str, days: int | None,
                                                           rules: list[str]) -> None:
    assert checked(tiers, days) == rules


def test_the_stored_profile_gives_the_figure_when_the_request_does_not(tiers: str) -> None:
    stored = state({"type": "profile", "data": {"days_past_due": 45}})
    p = plan(request(debtor=NY), NOON_NY, packs=tiers, debtor_state=stored)
    assert [c.rule.id for c in p.checks] == ["middle"]
    p = plan(request(debtor={**NY, "days_past_due": 5}), NOON_NY, packs=tiers,
             debtor_state=stored)
    assert [c.rule.id for c in p.checks] == ["early"]  # the request's figure wins


def test_band_words() -> None:
    assert Band(None, 29).words() == "up to 29 days past due"
    assert Band(0, 29).words() == "up to 29 days past due"
    assert Band(30, 89).words() == "30 to 89 days past due"
    assert Band(90, None).words() == "90 days past due or more"


def test_policy_show_words_the_band(tiers: str) -> None:
    text = describe(load_pack(tiers))
    assert "applies to: up to 29 days past due (or unknown)" in text
    assert "applies to: 30 to 89 days past due (or unknown)" in text


# ---------------------------------------------------------------------------- the cadence pack
def cadence(days: int | None, **fields: Any) -> Any:
    debtor = {**NY, "days_past_due": days} if days is not None else NY
    return plan(request(debtor=debtor, **fields), NOON_NY, packs="cadence")


@pytest.mark.parametrize(("days", "held"), [(29, True), (30, False), (None, True)])
def test_under_30_days_past_due_only_calls_and_texts(days: int | None, held: bool) -> None:
    for channel, destination in (("email", "d@example.com"), ("letter", "1 Main St"),
                                 ("visit", "1 Main St")):
        p = cadence(days, channel=channel, destination=destination, content=CONTENT)
        assert ("cadence/early-calls-and-texts-only" in [r.rule for r in p.blocking]) is held
    for channel in ("call", "sms"):
        p = cadence(days, channel=channel, content=CONTENT)
        assert p.blocking == ()


def test_a_legal_notice_does_not_wait_for_the_cadence() -> None:
    p = cadence(10, channel="letter", destination="1 Main St", purpose="legal_notice",
                content=CONTENT)
    assert p.blocking == ()


@pytest.mark.parametrize(("days", "weekly"), [(0, True), (29, True), (30, False),
                                              (None, True)])
def test_at_most_one_contact_a_week_early_on(days: int | None, weekly: bool) -> None:
    p = cadence(days)
    assert ([c.rule.name for c in p.checks] == ["cadence/weekly-early-on"]) is weekly
    if weekly:
        assert p.checks[0].limit == 1 and p.checks[0].period == "rolling"
        assert len(p.checks[0].fields) == 7


def test_monthly_in_hardship() -> None:
    in_hardship = {**NY, "days_past_due": 40, "hardship": True}
    p = plan(request(debtor=in_hardship), NOON_NY, packs="cadence")
    assert [(r.name, s) for r, s in p.spacings] == [("cadence/monthly-in-hardship", 30 * 86400)]
    assert cadence(40).spacings == ()
