"""``report`` and ``backtest`` on a recorded synthetic history (``analytics.synthetic``: its
outcomes have a known structure), against private redis-servers, no Kafka: the report finds
the planted structure; a backtest of the running policy reproduces every recorded decision;
a stricter candidate blocks exactly the extra contacts it should."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from gatekeeper.analytics.backtest import Backtest, Range
from gatekeeper.analytics.entries import DECISION, Decided, parse_items
from gatekeeper.analytics.figures import Report
from gatekeeper.analytics.page import backtest_page, report_page
from gatekeeper.analytics.parallel import Replayer, Spec, replay_with
from gatekeeper.analytics.parallel import figures as parallel_figures
from gatekeeper.analytics.recorder import Message, items
from gatekeeper.analytics.run import record_synthetic
from gatekeeper.analytics.synthetic import EVENING, MORNING, SyntheticHistory
from gatekeeper.counters.keys import Hasher
from gatekeeper.gate import Gate
from gatekeeper.localtime import zone
from gatekeeper.policy import load_policy
from gatekeeper.simulate import simulation_store

DAYS = 21
pytestmark = pytest.mark.timeout(600)  # a recorded history of 7,000 requests, replayed twice
STRICT = """
pack: strict
title: calls only 09:00-18:00 local
applies_to: ["*"]
rules:
  - id: calls-9-to-18
    kind: hours
    citation: a candidate under test
    channels: [call]
    windows:
      daily: ["09:00-18:00"]
"""


@pytest.fixture(scope="module")
def history() -> SyntheticHistory:
    return SyntheticHistory(300, DAYS, end=date(2026, 11, 20), seed=7)


@pytest.fixture(scope="module")
def record(history: SyntheticHistory) -> list[Message]:
    return asyncio.run(record_synthetic(history, ["default"]))


def span(history: SyntheticHistory) -> Range:
    """The last two weeks; the week before warms the counters up."""
    return Range(history.start + timedelta(days=7), history.start + timedelta(days=DAYS))


def test_the_record_is_what_a_worker_writes(history: SyntheticHistory,
                                            record: list[Message]) -> None:
    kinds = Counter(m.kind for m in record)
    assert kinds["decisions"] > 6000 and kinds["events"] > 900
    decisions = [orjson.loads(m.value) for m in record if m.kind == "decisions"]
    allowed = {d["decision"]["request_id"] for d in decisions
               if d["decision"]["decision"] == "allowed"}
    reported = [orjson.loads(m.value)["request_id"] for m in record if m.kind == "outcomes"]
    assert len(reported) == len(set(reported))  # placed contacts only, each once
    assert set(reported) <= allowed
    end = history.start + timedelta(days=DAYS)  # a letter's outcome comes up to 3 days later
    late = {d["request"]["request_id"] for d in decisions
            if datetime.fromisoformat(d["request"]["requested_at"]) > end - timedelta(days=3)}
    assert allowed - set(reported) <= late and len(reported) > 0.95 * len(allowed)
    assert all(m.record and m.record.split(" ")[0] in "ab" for m in record
               if m.kind == "decisions")
    assert [m.timestamp for m in record] == sorted(m.timestamp for m in record)


def test_the_report_finds_the_known_structure(history: SyntheticHistory,
                                              record: list[Message], tmp_path: Path) -> None:
    report = Report(history.start, history.start + timedelta(days=DAYS))
    for entry in parse_items(items(record)).entries:
        report.add(entry)
    figures = report.figures()
    best = {(b["channel"], b["stage"]): [h["hour"] for h in b["hours"]]
            for b in figures["best_hours"]}
    # callers at 30-59 days past due answer calls 18:00-20:00; at 60-89, 09:00-12:00
    assert set(best[("call", "30-59")][:2]) == set(EVENING)
    assert set(best[("call", "60-89")][:2]) <= set(MORNING)
    evening = [c for c in figures["outcomes"]["cells"]
               if (c["channel"], c["stage"]) == ("call", "30-59") and c["hour"] in EVENING]
    others = [c for c in figures["outcomes"]["cells"]
              if (c["channel"], c["stage"]) == ("call", "30-59")
              and c["hour"] is not None and c["hour"] not in EVENING and c["reported"] >= 10]
    assert min(c["rpc_ci"][0] for c in evening) > max(c["rpc_ci"][1] for c in others) - 0.1
    assert all(c["rpc_ci"][0] <= c["rpc_rate"] <= c["rpc_ci"][1] for c in evening)
    # texters answer texts and ignore e-mail; e-mailers the other way round
    pairs = {(p["answers"], p["ignores"]): p["debtor_ids"]
             for p in figures["channel_affinity"]["pairs"]}
    for pair, segment in ((("sms", "email"), "texters"), (("email", "sms"), "emailers")):
        found = Counter(history.by_id[d].segment for d in pairs[pair])
        assert found[segment] >= 0.7 * len(pairs[pair]) and found[segment] >= 15, (pair, found)
    page = report_page(figures)
    assert "<script src" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count("<svg") >= 8
    embedded = page.split('id="figures">')[1].split("</script>")[0]
    assert orjson.loads(embedded.replace("<\\/", "</"))["totals"] == figures["totals"]


async def _backtest(history: SyntheticHistory, record: list[Message], policies: list[str]
                    ) -> dict[str, Any]:
    async with simulation_store(None) as store:
        await store.load_scripts()
        gate = Gate(load_policy(policies), store, Hasher(b"another key"))
        backtest = Backtest(gate, span(history))
        await backtest.replay(parse_items(items(record)).entries)
        return backtest.figures()


def test_a_backtest_of_the_running_policy_reproduces_every_decision(
        history: SyntheticHistory, record: list[Message]) -> None:
    last = [m for m in record if m.kind == "decisions"][-1]
    again = Message(last.kind, last.key, last.value, last.timestamp + 1500, last.record)
    figures = asyncio.run(_backtest(history, [*record, again], ["default"]))  # (a replay)
    assert figures["replay"]["duplicates"] == 1
    totals = figures["totals"]
    in_range = sum(1 for e in parse_items(items(record)).entries if e.order == DECISION
                   and span(history).start <= e.at < span(history).end)
    assert totals["requests"] == in_range > 4000
    assert totals["identical"] == totals["requests"], figures["differences"][:3]
    assert totals["newly_blocked"] == totals["newly_allowed"] == 0
    assert figures["replay"]["restored"] > 1500  # the warm-up week set the counters
    assert figures["recorded_policies"] == {figures["candidate_policy"]: in_range}
    assert "Backtest: default@" in backtest_page(figures)


def test_a_stricter_candidate_blocks_the_expected_extra_calls(
        history: SyntheticHistory, record: list[Message], tmp_path: Path) -> None:
    strict = tmp_path / "strict.yaml"
    strict.write_text(STRICT)
    figures = asyncio.run(_backtest(history, record, ["default", str(strict)]))
    window = span(history)
    expected = []
    for entry in parse_items(items(record)).entries:
        if entry.order != DECISION or not window.start <= entry.at < window.end:
            continue
        decided = entry.value
        assert isinstance(decided, Decided)
        request = decided.request
        local = entry.at.astimezone(zone(history.by_id[request.debtor_id].zone.timezone))
        if (request.channel == "call" and decided.decision["decision"] == "allowed"
                and not 9 <= local.hour < 18):
            expected.append(request.request_id)
    rules = {r["rule"]: r for r in figures["by_rule"]}
    strict_rule = rules["strict/calls-9-to-18"]
    assert strict_rule["newly_blocked"] == len(expected) > 300
    assert strict_rule["newly_allowed"] == 0
    assert set(strict_rule["examples"]["newly_blocked"]) <= set(expected)
    assert strict_rule["by_channel"]["newly_blocked"] == {"call": len(expected)}
    # a call blocked now no longer uses the day's one call: later ones get through
    assert rules["default/calls-per-day-per-number"]["newly_allowed"] > 0
    per = figures["contacts_per_debtor"]
    assert per["candidate_mean"] < per["recorded_mean"]
    assert sum(per["recorded"]) == sum(per["candidate"]) == per["debtors"]
    assert datetime.fromisoformat(figures["range"]["from"]) == window.start.astimezone(UTC)


def test_history_generate_out_is_a_simulate_history_with_the_same_decisions(
        tmp_path: Path) -> None:
    """``history generate --out``: ``simulate`` replays the file into the very decisions the
    recorder made (its outcomes are those of the allowed contacts only)."""
    from gatekeeper.analytics.recorder import history_lines
    from gatekeeper.simulate import run_simulation

    small = SyntheticHistory(40, 10, end=date(2026, 11, 20), seed=3)
    messages = asyncio.run(record_synthetic(small, ["default"]))
    history_file, out = tmp_path / "history.jsonl", tmp_path / "decisions.jsonl"
    history_file.write_bytes(b"".join(history_lines(messages)))
    count = asyncio.run(run_simulation(history_file, ["default"], None, out))
    simulated = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    recorded = [orjson.loads(m.value)["decision"] for m in messages if m.kind == "decisions"]
    assert count == len(recorded) > 300
    assert simulated == recorded


def _without_examples(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures but the examples each shard picks (the first it meets of each kind)."""
    out = {k: v for k, v in figures.items()
           if k not in ("differences", "reason_differences", "by_rule")}
    out["by_rule"] = [{k: v for k, v in rule.items() if k != "examples"}
                      for rule in figures["by_rule"]]
    return out


def test_a_backtest_sharded_over_two_jobs_gives_the_figures_of_one(
        history: SyntheticHistory, record: list[Message], tmp_path: Path) -> None:
    strict = tmp_path / "strict.yaml"
    strict.write_text(STRICT)
    policies = ["default", str(strict)]
    spec = Spec(policies, span(history), b"another key")
    seen: list[int] = []

    async def body(replayer: Replayer) -> None:
        read = items(record)
        for start in range(0, len(read), 5000):  # (as the record's partition groups come)
            await replayer.add(read[start:start + 5000])
        await replayer.flush()

    warmup = span(history).warmup_of(load_policy(policies), spec.ttls)
    one = parallel_figures(asyncio.run(replay_with(spec, 1, body)), spec, warmup)
    two = parallel_figures(asyncio.run(replay_with(spec, 2, body, seen.append)), spec, warmup)
    assert one["totals"]["newly_blocked"] > 300
    assert _without_examples(two) == _without_examples(one)
    for shown in ("differences", "reason_differences"):
        assert len(two[shown]) == len(one[shown])
    assert seen[-1] == one["replay"]["decided"] + one["replay"]["restored"]  # the whole bar
