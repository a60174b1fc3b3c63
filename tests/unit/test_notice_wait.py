"""notice_wait: no contact until N local days after a written notice (Ontario 6, BC 5), across
DST changes and local-date edges; the notice_sent event and its state field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from builders import HASHER, at, plan, request, state

from gatekeeper.errors import InvalidInput
from gatekeeper.model import DebtorState
from gatekeeper.plan import Plan
from gatekeeper.policy import load_pack
from gatekeeper.policy.describe import describe
from gatekeeper.state import event_fields, state_from_hash
from gatekeeper.validate import parse_event
from gatekeeper.verdict import StoreResult, decide

ON_WAIT = "ca-on/six-days-after-written-notice"
BC_WAIT = "ca-bc/five-days-after-written-notice"
TORONTO = {"timezone": "America/Toronto", "region": "CA-ON"}
VANCOUVER = {"timezone": "America/Vancouver", "region": "CA-BC"}


def notice(occurred_at: str, name: str = "written_notice", **extra: Any) -> dict[str, Any]:
    return {"type": "notice_sent", "occurred_at": occurred_at, "data": {"notice": name}, **extra}


def on_call(**fields: Any) -> Any:
    return request(**{"debtor": TORONTO, "destination": "+14165550100", **fields})


def bc_call(**fields: Any) -> Any:
    return request(**{"debtor": VANCOUVER, "destination": "+16045550100", **fields})


def reasons(p: Plan) -> dict[str, Any]:
    return {r.rule: r for r in p.blocking}


# Thursday 5 March 2026, 10:00 in Toronto (EST); DST starts on Sunday 8 March.
SENT_BEFORE_DST = state(notice("2026-03-05T15:00:00Z"))


@pytest.mark.parametrize(("when", "held"), [
    ("2026-03-10T15:00:00Z", True),   # Tue 10 Mar 11:00 EDT: day 5
    ("2026-03-11T03:59:59Z", True),   # Tue 10 Mar 23:59:59 EDT
    ("2026-03-11T04:00:00Z", False),  # Wed 11 Mar 00:00 EDT: day 6 (EDT, not EST's 05:00Z)
])
def test_ontario_waits_six_local_days_across_the_spring_dst_change(when: str, held: bool) -> None:
    p = plan(on_call(), when, packs="ca-on", debtor_state=SENT_BEFORE_DST)
    assert (ON_WAIT in reasons(p)) is held
    if held:
        reason = reasons(p)[ON_WAIT]
        assert reason.retry_at == "2026-03-11T04:00:00Z"
        assert reason.message == ("the written_notice notice was sent on 2026-03-05 (local date); "
                                  "no contact before 2026-03-11")
        assert reason.citation.startswith("R.R.O. 1990, Reg. 74, s. 21")


def test_the_decision_waits_for_the_wait_and_then_for_the_hours() -> None:
    p = plan(on_call(), "2026-03-10T15:00:00Z", packs="ca-on", debtor_state=SENT_BEFORE_DST)
    counts = tuple((0,) * len(check.fields) for check in p.checks)
    decision = decide(p, StoreResult("blocked", counts))
    assert [r["rule"] for r in decision["reasons"]] == [ON_WAIT]
    assert decision["retry_at"] == "2026-03-11T11:00:00Z"  # 07:00 EDT, when the hours open


def test_day_zero_is_the_local_date_of_the_notice_not_the_utc_date() -> None:
    late_evening = state(notice("2026-03-06T04:30:00Z"))  # Thu 5 Mar 23:30 EST, 20:30 PST
    p = plan(on_call(), "2026-03-10T15:00:00Z", packs="ca-on", debtor_state=late_evening)
    assert reasons(p)[ON_WAIT].retry_at == "2026-03-11T04:00:00Z"
    p = plan(bc_call(), "2026-03-09T18:00:00Z", packs="ca-bc", debtor_state=late_evening)
    assert reasons(p)[BC_WAIT].retry_at == "2026-03-10T07:00:00Z"  # Tue 10 Mar 00:00 PDT


@pytest.mark.parametrize(("when", "held"), [
    ("2026-11-03T07:59:59Z", True),   # Mon 2 Nov 23:59:59 PST (07:59:59Z: PDT would be over)
    ("2026-11-03T08:00:00Z", False),  # Tue 3 Nov 00:00 PST: day 5
])
def test_bc_waits_five_local_days_across_the_autumn_dst_change(when: str, held: bool) -> None:
    sent = state(notice("2026-10-29T18:00:00Z"))  # Thu 29 Oct 11:00 PDT; DST ends 1 Nov
    p = plan(bc_call(), when, packs="ca-bc", debtor_state=sent)
    assert (BC_WAIT in reasons(p)) is held
    if held:
        assert reasons(p)[BC_WAIT].retry_at == "2026-11-03T08:00:00Z"


def test_bc_holds_only_verbal_contact_and_ontario_not_letters() -> None:
    sent = state(notice("2026-03-05T15:00:00Z"))
    during = "2026-03-06T18:00:00Z"
    email = bc_call(channel="email", destination="d@example.com")
    assert BC_WAIT not in reasons(plan(email, during, packs="ca-bc", debtor_state=sent))
    visit = bc_call(channel="visit", destination="1 Main St")
    assert BC_WAIT in reasons(plan(visit, during, packs="ca-bc", debtor_state=sent))
    letter = on_call(channel="letter", destination="1 Main St")
    assert ON_WAIT not in reasons(plan(letter, during, packs="ca-on", debtor_state=sent))
    reply = on_call(purpose="reply_to_debtor")
    assert ON_WAIT not in reasons(plan(reply, during, packs="ca-on", debtor_state=sent))


def test_a_resent_notice_starts_a_new_wait() -> None:
    resent = state(notice("2026-03-05T15:00:00Z"), notice("2026-03-12T15:00:00Z"))
    p = plan(on_call(), "2026-03-13T15:00:00Z", packs="ca-on", debtor_state=resent)
    assert reasons(p)[ON_WAIT].retry_at == "2026-03-18T04:00:00Z"


def test_the_wait_is_per_debt_and_per_notice_name() -> None:
    about_d1 = state(notice("2026-03-05T15:00:00Z", debt_id="D1"))
    during = "2026-03-06T15:00:00Z"
    assert ON_WAIT in reasons(plan(on_call(debt_id="D1"), during, packs="ca-on",
                                   debtor_state=about_d1))
    assert ON_WAIT not in reasons(plan(on_call(debt_id="D2"), during, packs="ca-on",
                                       debtor_state=about_d1))
    assert ON_WAIT in reasons(plan(on_call(), during, packs="ca-on", debtor_state=about_d1))
    about_every_debt = state(notice("2026-03-05T15:00:00Z"))
    assert ON_WAIT in reasons(plan(on_call(debt_id="D2"), during, packs="ca-on",
                                   debtor_state=about_every_debt))
    other = state(notice("2026-03-05T15:00:00Z", name="payment_plan"))
    assert ON_WAIT not in reasons(plan(on_call(), during, packs="ca-on", debtor_state=other))


def test_no_notice_on_record_holds_nothing() -> None:
    p = plan(on_call(), "2026-03-10T15:00:00Z", packs="ca-on", debtor_state=DebtorState())
    assert ON_WAIT not in reasons(p)


def test_a_shadow_wait_is_reported_and_sets_no_retry_constraint(tmp_path: Any) -> None:
    pack = tmp_path / "watch.yaml"
    pack.write_text("pack: watch\ntitle: t\napplies_to: ['*']\nrules:\n"
                    "  - {id: wait, kind: notice_wait, citation: c, notice: written_notice, "
                    "days: 6, shadow: true}\n")
    p = plan(on_call(), "2026-03-10T15:00:00Z", packs=str(pack), debtor_state=SENT_BEFORE_DST)
    assert [r.rule for r in p.shadow] == ["watch/wait"] and not p.blocking
    assert p.constraints == ()


def test_notice_sent_events_set_one_state_field() -> None:
    event = parse_event(orjson.dumps({"event_id": "e", "debtor_id": "d", "type": "notice_sent",
                                      "occurred_at": "2026-03-05T15:00:00Z", "debt_id": "D1",
                                      "data": {"notice": "written_notice"}}))
    fields = event_fields(event, HASHER)
    assert fields == [("nt:written_notice:D1", f"{at('2026-03-05T15:00:00Z').timestamp():.3f}")]
    rebuilt = state_from_hash({"v": "1", fields[0][0]: "1772722800000|" + fields[0][1]})
    assert rebuilt.notices == (("written_notice:D1", at("2026-03-05T15:00:00Z").timestamp()),)


@pytest.mark.parametrize(("data", "field"), [({}, "data.notice"),
                                             ({"notice": "Written Notice"}, "notice")])
def test_a_notice_sent_event_must_name_its_notice(data: dict[str, Any], field: str) -> None:
    raw = orjson.dumps({"event_id": "e", "debtor_id": "d", "type": "notice_sent",
                        "occurred_at": "2026-03-05T15:00:00Z", "data": data})
    with pytest.raises(InvalidInput) as caught:
        parse_event(raw)
    assert field in (caught.value.field or "")


def test_policy_show_words_the_wait() -> None:
    text = describe(load_pack("ca-on"))
    assert ("rule: none until 6 days after the written_notice notice (a notice_sent event): the "
            "day it is sent is day 0, contact again from 00:00 local time on day 6") in text
