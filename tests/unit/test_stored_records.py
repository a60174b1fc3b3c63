"""The decision record as the debtor's hash keeps it (layout 2, ``counters/wire.py``): the
same facts as the travelling words, in fewer bytes (pure: no Redis)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gatekeeper.counters.keys import record_field, request_tag
from gatekeeper.counters.wire import (
    Record,
    base36,
    current_record,
    generation,
    read_stored,
    stored_generation,
    stored_text,
)

DAY3 = 3 * 86400
RECORDS = [
    Record("a", "1795906943.315", "c12a1b317a", (0,), None, (), (None,)),
    Record("b", "1795906929.467", "03da9e7016", (1,), "1795906926.053", (),
           ("1795906910.723",)),
    Record("b", "1795907127.410", "98d2886118", (0, 2, 1), "1795907070.987",
           ("4ac0e8", "97ff91")),
    Record("a", "1795906937.972", "ffffffffff", None, None, ()),
    Record("b", "1795906937.000", "0000000000", (3,), "1795906999.999", ()),  # last after it
]


@pytest.mark.parametrize("record", RECORDS)
def test_a_stored_record_reads_back_as_it_travels(record: Record) -> None:
    text = stored_text(record, ("d94939|fa8bf89c0cd0|20785",), "voicemail")
    assert read_stored(text) == (record, ("d94939|fa8bf89c0cd0|20785",), "voicemail")
    assert read_stored(text)[0].words() == record.words()
    bare = stored_text(record, ())
    assert read_stored(bare) == (record, (), None)


def test_the_usual_records_stay_under_the_listpack_value_limit() -> None:
    """Redis keeps a hash compact (listpack) while every value is at most 64 bytes; one
    longer value turns the debtor's whole hash into a hashtable."""
    for record in RECORDS:
        assert len(stored_text(record, ())) <= 64, stored_text(record, ())
    assert stored_text(RECORDS[0], ()) == "awSobMXo" + base36(1795906943315) + " 0 -,-"
    assert stored_text(RECORDS[3], ()) == "a______8" + base36(1795906937972)


def test_a_records_generation_is_its_time_over_the_decision_ttl() -> None:
    text = stored_text(RECORDS[0], ())
    when = datetime.fromtimestamp(1795906943.315, UTC)
    assert stored_generation(text, DAY3) == generation(when, DAY3) == 1795906943 // DAY3
    assert current_record(text, when, DAY3) == text
    next_generation = datetime.fromtimestamp((1795906943 // DAY3 + 1) * DAY3 + 5, UTC)
    assert current_record(text, next_generation, DAY3) == text
    after = datetime.fromtimestamp((1795906943 // DAY3 + 2) * DAY3, UTC)
    assert current_record(text, after, DAY3) is None
    assert current_record(None, when, DAY3) is None


def test_base36_writes_what_lua_and_int_read() -> None:
    for number in (0, 35, 36, 3414, 1795906943315, -1, -3414):
        assert int(base36(number), 36) == number


def test_a_records_field_is_r_and_a_48_bit_tag() -> None:
    tag = request_tag("req-1")
    assert len(tag) == 8 and record_field("req-1") == "r" + tag
    assert request_tag("req-2") != tag
