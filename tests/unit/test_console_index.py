"""The decision index (SQLite): what goes in, what the console's queries give back."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import orjson
import pytest

from gatekeeper.console.index import Cursor, QueueFilter
from gatekeeper.console.index.parsing import Parsed, ParseState, items_of, parse
from gatekeeper.console.index.rows import Message, _ms, to_row
from gatekeeper.console.index.sample import decision_message, traffic
from gatekeeper.console.index.sqlite import HOUR, SqliteIndex
from gatekeeper.timeutil import format_utc, from_epoch, parse_rfc3339

T0 = 1_790_000_000_000  # 2026-09-21, a round number of ms
QUIET, CALLS, LETTERS = 0, 1, 2


@pytest.fixture
def index(tmp_path: Path) -> SqliteIndex:
    return SqliteIndex(tmp_path / "index.sqlite")


class Feed:
    def __init__(self) -> None:
        self.offsets: dict[str, int] = {}

    def __call__(self, kind: str, value: dict[str, object], *, partition: int = 0,
                 ts: int = T0) -> Message:
        offset = self.offsets.get(kind, 0)
        self.offsets[kind] = offset + 1
        return Message(kind, f"t.{kind}", partition, offset, ts, b"k", orjson.dumps(value))


def iso(ms: int) -> str:
    return format_utc(from_epoch(ms / 1000))


def block(n: int, debtor: str = "D1", *, at: int = T0, channel: str = "call",
          region: str | None = "US-NY", rules: tuple[int, ...] = (QUIET,)) -> dict[str, object]:
    return decision_message(f"R{n}", debtor, at, blocked=True, channel=channel, region=region,
                            rules=rules)


def test_a_block_on_both_topics_is_indexed_once_and_keeps_the_record_copy(index):
    feed = Feed()
    value = block(1)
    review = {"request": value["request"], "decision": value["decision"]}
    # the review copy first (another batch), then the record's copy with its via
    assert index.ingest([feed("review", review)]).decisions == 1
    stats = index.ingest([feed("decisions", {**value, "via": "http"})])
    assert (stats.decisions, stats.duplicates) == (0, 1)
    (view,) = index.decisions("R1")
    assert view.via == "http" and view.decision == "blocked"
    # both in one batch: one row
    value2 = block(2)
    stats = index.ingest([feed("review", {"request": value2["request"],
                                          "decision": value2["decision"]}),
                          feed("decisions", value2)])
    assert (stats.decisions, stats.duplicates) == (1, 1)
    assert len(index.decisions("R2")) == 1


def test_offsets_advance_with_the_rows(index):
    feed = Feed()
    index.ingest([feed("decisions", block(1)), feed("decisions", block(2)),
                  feed("events", {"event_id": "e", "debtor_id": "D1", "type": "opt_out",
                                  "occurred_at": "2026-09-21T00:00:00Z"})])
    assert index.offsets() == {("t.decisions", 0): 2, ("t.events", 0): 1}


def test_unreadable_messages_are_counted_and_skipped(index):
    bad = Message("decisions", "t.decisions", 0, 0, T0, None, b"{not json")
    empty = Message("outcomes", "t.outcomes", 0, 0, T0, None, None)
    stats = index.ingest([bad, empty])
    assert stats.unreadable == 2 and stats.decisions == 0
    assert index.offsets() == {("t.decisions", 0): 1, ("t.outcomes", 0): 1}


def test_queue_filters_and_pages_newest_first(index):
    feed = Feed()
    messages = [feed("decisions", block(n, f"D{n % 3}", at=T0 + n * 1000,
                                        channel="sms" if n % 2 else "call",
                                        rules=(CALLS,) if n % 5 == 0 else (QUIET,)))
                for n in range(120)]
    messages.append(feed("decisions", decision_message("A1", "D1", T0, blocked=False)))
    index.ingest(messages)
    first = index.queue(QueueFilter(), limit=50)
    assert [i.request_id for i in first.items[:2]] == ["R119", "R118"]
    second = index.queue(QueueFilter(), before=first.older, limit=50)
    third = index.queue(QueueFilter(), before=second.older, limit=50)
    ids = [i.request_id for page in (first, second, third) for i in page.items]
    assert len(ids) == 120 and len(set(ids)) == 120 and third.older is None
    assert "A1" not in ids  # allowed decisions are not in the queue
    sms = index.queue(QueueFilter(channel="sms"), limit=200).items
    assert len(sms) == 60 and {i.channel for i in sms} == {"sms"}
    calls_rule = index.queue(QueueFilter(rule="default/calls-per-day-per-number"),
                             limit=200).items
    assert [i.request_id for i in calls_rule][:3] == ["R115", "R110", "R105"]
    assert len(calls_rule) == 24
    assert len(index.queue(QueueFilter(pack="default"), limit=200).items) == 120
    assert index.queue(QueueFilter(pack="us-reg-f"), limit=200).items == []
    debtor = index.queue(QueueFilter(debtor="D2", channel="call"), limit=200).items
    assert {(i.debtor_id, i.channel) for i in debtor} == {("D2", "call")}
    window = index.queue(QueueFilter(since=T0 + 10_000, until=T0 + 20_000), limit=200).items
    assert [i.request_id for i in window] == [f"R{n}" for n in range(19, 9, -1)]
    assert Cursor.parse(first.older.text()) == first.older  # type: ignore[union-attr]
    assert Cursor.parse("garbage") is None


def test_queue_since_returns_only_newer_matching_blocks(index):
    feed = Feed()
    index.ingest([feed("decisions", block(n)) for n in range(3)])
    newest = index.queue(QueueFilter()).newest_id
    index.ingest([feed("decisions", block(10, channel="sms")),
                  feed("decisions", block(11, channel="call"))])
    fresh = index.queue_since(QueueFilter(channel="sms"), newest)
    assert [i.request_id for i in fresh.items] == ["R10"]
    assert fresh.newest_id == newest + 2


def test_region_comes_from_the_profile_when_the_request_has_none(index):
    feed = Feed()
    index.ingest([feed("events", {"event_id": "e1", "debtor_id": "D9", "type": "profile",
                                  "occurred_at": "2026-09-20T00:00:00Z",
                                  "data": {"region": "CA-ON", "timezone": "America/Toronto"}})])
    index.ingest([feed("decisions", block(1, "D9", region=None))])
    assert index.queue(QueueFilter(region="CA-ON")).items[0].request_id == "R1"
    assert index.debtor_profile("D9") == {"region": "CA-ON", "timezone": "America/Toronto"}


def test_actions_set_the_state_and_leave_the_open_queue(index):
    feed = Feed()
    index.ingest([feed("decisions", block(1)), feed("decisions", block(2)),
                  feed("decisions", block(3))])

    def action(seq: int, what: str, request_id: str) -> Message:
        return feed("audit", {"seq": seq, "at": "2026-09-21T01:00:00Z", "actor": "rita",
                              "action": what, "details": {"request_id": request_id,
                                                          "debtor_id": "D1", "reason": "ok"}})
    stats = index.ingest([action(1, "acknowledge", "R1"), action(2, "release", "R2"),
                          action(2, "release", "R2"),  # a resend: once
                          feed("audit", {"seq": 3, "action": "sign_in", "actor": "rita"})])
    assert stats.actions == 2
    assert [i.request_id for i in index.queue(QueueFilter()).items] == ["R3"]
    assert [i.request_id for i in index.queue(QueueFilter(status="released")).items] == ["R2"]
    assert [i.request_id for i in index.queue(QueueFilter(status="acknowledged")).items] == \
        ["R1"]
    assert {i.request_id: i.state for i in index.queue(QueueFilter(status="all")).items} == \
        {"R1": "acknowledged", "R2": "released", "R3": "open"}
    assert [a["action"] for a in index.actions("R2")] == ["release"]


def test_timeline_merges_everything_of_a_debtor_newest_first(index):
    feed = Feed()
    index.ingest([
        feed("decisions", block(1, "D1", at=T0)),
        feed("events", {"event_id": "e1", "debtor_id": "D1", "type": "opt_out",
                        "channel": "sms", "occurred_at": iso(T0 + HOUR)}),
        feed("decisions", decision_message("R2", "D1", T0 + HOUR * 12, blocked=False)),
        feed("outcomes", {"request_id": "R2", "debtor_id": "D1", "outcome": "no_answer",
                          "occurred_at": iso(T0 + 13 * HOUR)}),
        feed("decisions", block(3, "D2")),
    ])
    items = index.timeline("D1")
    assert [(i.what, i.label) for i in items] == [
        ("outcome", "no_answer"), ("decision", "allowed"), ("event", "opt_out"),
        ("decision", "blocked")]
    assert index.outcomes("R2", "D1")[0]["outcome"] == "no_answer"


def test_decisions_of_one_millisecond_keep_the_order_they_were_decided_in(index):
    # a worker's batch shares one clock reading; the block's review copy is indexed before
    # the record's copies (another topic, an earlier fetch): the timeline still lists the
    # three in the order they were decided (their offsets on contact.decisions)
    feed = Feed()
    first, second = (decision_message(f"R{n}", "D1", T0, blocked=False) for n in (1, 2))
    third = block(3, "D1")
    index.ingest([feed("review", {"request": third["request"],
                                  "decision": third["decision"]})])
    index.ingest([feed("decisions", first), feed("decisions", second),
                  feed("decisions", third)])
    assert [i.request_id for i in index.timeline("D1")] == ["R3", "R2", "R1"]


def test_an_index_of_schema_2_gains_the_decision_order_in_place(tmp_path):
    import sqlite3
    from importlib import resources

    schema = resources.files("gatekeeper.console.index").joinpath("schema.sql").read_text()
    version_2, found = re.subn(r"NOT NULL,( *--[^\n]*)?\n *pos INTEGER\)", "NOT NULL)", schema)
    assert found == 1
    path = tmp_path / "v2.sqlite"
    db = sqlite3.connect(path)
    db.executescript(version_2)
    db.execute("INSERT INTO meta VALUES ('schema', '2')")
    db.commit()
    db.close()
    index = SqliteIndex(path)
    feed = Feed()
    index.ingest([feed("decisions", block(1)), feed("decisions", block(2))])
    assert [i.request_id for i in index.timeline("D1")] == ["R2", "R1"]
    index.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("3",)
    db.close()


def test_overview_counts_per_hour_rule_channel_and_region(index):
    feed = Feed()
    index.ingest([
        feed("decisions", block(1, at=T0, rules=(QUIET, CALLS))),
        feed("decisions", block(2, at=T0 + 10, channel="letter", region="GB",
                                rules=(LETTERS,))),
        feed("decisions", decision_message("A3", "D1", T0 + HOUR, blocked=False)),
    ])
    overview = index.overview(T0 - HOUR, T0 + 2 * HOUR)
    assert (overview.decisions, overview.blocked) == (3, 2)
    hour = T0 - T0 % HOUR
    assert overview.hours == [(hour, 2, 2), (hour + HOUR, 1, 0)]
    assert dict(overview.by_rule) == {"default/quiet-hours": 1,
                                      "default/calls-per-day-per-number": 1,
                                      "default/letters-per-month": 1}
    assert dict(overview.by_channel) == {"call": 1, "letter": 1}
    assert dict(overview.by_region) == {"US-NY": 1, "GB": 1}
    assert index.rule_hours(T0 - HOUR, T0 + 2 * HOUR)[0][0] == hour
    assert index.choices()["pack"] == ["default"]


def test_prune_drops_what_is_older_than_the_retention(index):
    feed = Feed()
    index.ingest([feed("decisions", block(1, at=T0)),
                  feed("decisions", block(2, at=T0 + 10 * HOUR))])
    assert index.prune(T0 + 5 * HOUR) >= 1
    assert [i.request_id for i in index.queue(QueueFilter(status="all")).items] == ["R2"]
    assert index.queue(QueueFilter(rule="default/quiet-hours")).items[0].request_id == "R2"
    assert index.overview(0, T0 + 20 * HOUR).decisions == 1


def test_sample_traffic_goes_in_whole(index):
    messages = list(traffic(2000, debtors=100, start_ms=T0, end_ms=T0 + 24 * HOUR))
    stats = index.ingest(messages)
    assert stats.decisions == 2000 and stats.unreadable == 0
    assert stats.duplicates == sum(1 for m in messages if m.kind == "review")
    assert all(to_row(m) is not None for m in messages[:50])


def test_an_index_of_another_schema_asks_for_a_rebuild(tmp_path):
    import sqlite3

    from gatekeeper.console.index.sqlite import IndexSchemaError

    path = tmp_path / "old.sqlite"
    SqliteIndex(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
    db.commit()
    db.close()
    with pytest.raises(IndexSchemaError, match="gatekeeper console --rebuild"):
        SqliteIndex(path)


@pytest.mark.parametrize("text", [
    "2026-12-01T13:05:07Z", "2026-12-01T13:05:07.123Z", "2026-12-01T13:05:59.999Z",
    "0001-01-01T00:00:00Z", "2026-12-01T13:05:07+02:00", "2026-12-01T13:05:07.1234Z",
    "2026-12-01T13:05:07.12Z"])
def test_times_read_by_hand_agree_with_the_rfc3339_parser(text):
    assert _ms(text, -1) == int(parse_rfc3339(text).timestamp() * 1000)


@pytest.mark.parametrize("text", ["2026-12-01T13:75:07Z", "2026-12-01T13:05:60Z",
                                  "2026-12-01T25:05:07Z", "2026-02-30T10:00:00Z",
                                  "2026-12-01T13:5:07Z", "not a time", 12])
def test_a_time_that_cannot_be_read_falls_back_to_the_brokers(text):
    assert _ms(text, 4242) == 4242


def _committed(path: Path) -> tuple[int, list[tuple[str, int, int]]]:
    """What another connection sees: the decisions, the offsets."""
    reader = sqlite3.connect(path)
    try:
        (decisions,) = reader.execute("SELECT count(*) FROM decisions").fetchone()
        return decisions, sorted(reader.execute("SELECT * FROM offsets"))
    finally:
        reader.close()


def _parsed(messages: list[Message]) -> Parsed:
    return parse(items_of(messages), ParseState())


def test_batches_written_without_commit_are_seen_together_once_committed(tmp_path):
    path = tmp_path / "index.sqlite"
    index = SqliteIndex(path)
    feed = Feed()
    index.write(_parsed([feed("decisions", block(1))]), commit=False)
    index.write(_parsed([feed("decisions", block(2)), feed("decisions", block(3))]),
                commit=False)
    assert _committed(path) == (0, [])
    index.commit()
    assert _committed(path) == (3, [("t.decisions", 0, 3)])
    index.commit()  # nothing open: nothing to do
    index.write(_parsed([feed("decisions", block(4))]), commit=False)
    index.close()  # commits what is open: each batch went in whole, with its offsets
    assert _committed(path) == (4, [("t.decisions", 0, 4)])


def test_a_failed_batch_rolls_back_the_batches_it_joined_with_their_offsets(tmp_path,
                                                                           monkeypatch):
    path = tmp_path / "index.sqlite"
    index = SqliteIndex(path)
    feed = Feed()
    index.write(_parsed([feed("decisions", block(1))]))
    index.write(_parsed([feed("decisions", block(2))]), commit=False)

    def full(*args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(index._writer, "_decisions", full)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        index.write(_parsed([feed("decisions", block(3))]))
    monkeypatch.undo()
    assert _committed(path) == (1, [("t.decisions", 0, 1)])  # R2 and R3 are read again
    assert [d.request_id for d in index.decisions("R2")] == []


def test_prune_commits_the_open_batches_first(tmp_path):
    path = tmp_path / "index.sqlite"
    index = SqliteIndex(path)
    feed = Feed()
    index.write(_parsed([feed("decisions", block(1, at=T0)),
                         feed("decisions", block(2, at=T0 + 10 * HOUR))]), commit=False)
    assert index.prune(T0 + 5 * HOUR) == 1
    assert _committed(path) == (1, [("t.decisions", 0, 2)])
