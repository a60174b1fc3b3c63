"""The vulnerable status: a vulnerable event sets it (data.on, default true) and clears it
(data.on false); it is the person's, never per debt; its note stays on debtor.events; what it
holds is the pack's choice (uk-conc: no visits, CONC 7.9.14G)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from builders import HASHER, plan, request, state

from gatekeeper.errors import InvalidInput
from gatekeeper.policy import load_pack
from gatekeeper.policy.describe import describe
from gatekeeper.state import event_fields
from gatekeeper.validate import parse_event

NOON_LONDON = "2026-03-02T12:00:00Z"
LONDON = {"timezone": "Europe/London", "region": "GB"}
NO_VISITS = "uk-conc/no-visits-when-vulnerable"


def event(**fields: Any) -> Any:
    body = {"event_id": "e", "debtor_id": "d", "type": "vulnerable",
            "occurred_at": "2026-03-01T00:00:00Z", **fields}
    return parse_event(orjson.dumps(body))


@pytest.mark.parametrize(("data", "value"), [
    ({}, "1"), ({"on": True, "note": "letters only, after 18:00"}, "1"), ({"on": False}, ""),
])
def test_the_event_sets_and_clears_one_flag_and_keeps_no_note(data: dict[str, Any],
                                                              value: str) -> None:
    fields = event_fields(event(data=data, debt_id="D1"), HASHER)
    assert fields == [("f:vulnerable", value)]  # the person's: no debt in the field
    assert all("18:00" not in v for _, v in fields)


def test_a_note_longer_than_2000_characters_is_invalid() -> None:
    with pytest.raises(InvalidInput) as caught:
        event(data={"note": "x" * 2001})
    assert "note" in str(caught.value)


def test_uk_conc_holds_visits_and_nothing_else_while_vulnerable() -> None:
    vulnerable = state({"type": "vulnerable", "debt_id": "D1", "data": {"note": "n"}})
    visit = request(channel="visit", destination="1 High St", debtor=LONDON, debt_id="D2")
    p = plan(visit, NOON_LONDON, packs="uk-conc", debtor_state=vulnerable)
    assert [(r.rule, r.message, r.retry_at) for r in p.blocking] == [
        (NO_VISITS, "debtor status: vulnerable", None)]
    call = request(destination="+442079460000", debtor=LONDON)
    assert plan(call, NOON_LONDON, packs="uk-conc", debtor_state=vulnerable).blocking == ()
    cleared = state({"type": "vulnerable"}, {"type": "vulnerable", "data": {"on": False},
                                             "occurred_at": "2026-03-01T01:00:00Z"})
    assert plan(visit, NOON_LONDON, packs="uk-conc", debtor_state=cleared).blocking == ()


def test_policy_show_words_the_rule() -> None:
    text = describe(load_pack("uk-conc"))
    assert "[no-visits-when-vulnerable] (status)" in text
    assert "applies to: channels visit\n    rule: vulnerable\n" in text
