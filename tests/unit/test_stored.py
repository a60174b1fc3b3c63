"""Stored counter fields and decision records in words (pure: no Redis)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

from gatekeeper.counters.keys import request_tag, rule_code
from gatekeeper.counters.wire import Record, stored_text
from gatekeeper.debtor_view import describe_counter
from gatekeeper.localtime import day_number, month_number, week_number
from gatekeeper.policy import load_pack
from gatekeeper.stored import describe_record, find_record, rule_index

RULES = rule_index([load_pack("default"), load_pack("us-reg-f")])
MARCH_3 = day_number(date(2026, 3, 3))  # the periods are those plan.py counts in


def test_a_counter_field_reads_as_rule_scope_local_date_and_count() -> None:
    code = rule_code("default/calls-per-day-per-number")
    counter = describe_counter(f"{code}|a5c4df0123ab|{MARCH_3}", "2", RULES)
    assert (counter.rule, counter.scope, counter.period, counter.count) == (
        "default/calls-per-day-per-number", "per number (hashed a5c4df)", "2026-03-03", 2)


def test_weeks_months_and_rolling_windows() -> None:
    letters = rule_code("default/letters-per-month")
    month = month_number(date(2026, 3, 31))
    assert describe_counter(f"{letters}||m{month}", 1, RULES).period == "2026-03"
    week = week_number(date(2026, 3, 1))  # a Sunday: its week began on Monday 23 February
    assert describe_counter(f"{letters}||w{week}", 1, RULES).period == "week of 2026-02-23"
    rolling = describe_counter(f"{rule_code('us-reg-f/calls-7-in-7')}|-|{MARCH_3}", 1, RULES)
    assert rolling.scope == "no debt given"
    assert rolling.period == "2026-03-03 (in 7-day windows)"


def test_a_rule_outside_the_loaded_packs_keeps_its_code() -> None:
    counter = describe_counter(f"abc123|x.y|{MARCH_3}", 1, RULES)
    assert counter.rule == "unknown rule abc123 (not in the loaded packs)"
    assert counter.scope == "scope x.y"


def test_the_record_of_a_request_is_found_and_read() -> None:
    tag = request_tag("r-1")
    quiet = rule_code("default/quiet-hours")
    blocked = Record("b", "1772456400.250", "00000000f2", (1, 0), "1772450000.000", (quiet,))
    fields = {"r" + tag: stored_text(blocked, ()),
              "r" + request_tag("r-2"): stored_text(Record("a", "1.000", "0000000003", None,
                                                           None, ()), ()),
              "last": "1"}
    record = find_record(fields, tag)
    assert record is not None and record.record == blocked
    lines = dict(describe_record(record, RULES))
    assert lines["decision"] == "blocked"
    assert lines["evaluated at"] == "2026-03-02T13:00:00.250Z"
    assert lines["blocked by"] == "default/quiet-hours"
    assert lines["counts seen"] == "1, 0"
    assert lines["content hash"] == "00000000f2"
    assert find_record(fields, request_tag("r-3")) is None


def test_the_module_is_pure() -> None:
    code = ("import sys, gatekeeper.stored\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'aiokafka', "
            "'faust')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
