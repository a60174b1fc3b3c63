"""The pure parts of report and backtest: intervals, stages, time ranges, debtor lanes, the
comparison's arithmetic, the charts and the progress bar."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import pytest

from gatekeeper.analytics import svg
from gatekeeper.analytics.compare import Comparison
from gatekeeper.analytics.dimensions import stage_of
from gatekeeper.analytics.figures import wilson
from gatekeeper.analytics.progress import Progress
from gatekeeper.analytics.replay import Lanes, Step
from gatekeeper.analytics.sources import RangeError, TimeRange
from gatekeeper.errors import InvalidInput
from gatekeeper.validate import request_from_dict

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_wilson_intervals_hold_the_rate_and_narrow_with_counts() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    small, large = wilson(3, 10), wilson(300, 1000)
    assert small[0] < 0.3 < small[1] and large[0] < 0.3 < large[1]
    assert large[1] - large[0] < (small[1] - small[0]) / 5
    assert wilson(0, 20)[0] == 0.0 and wilson(20, 20)[1] == 1.0


@pytest.mark.parametrize(("dpd", "stage"), [(None, "unknown"), (0, "0-29"), (29, "0-29"),
                                             (30, "30-59"), (89, "60-89"), (90, "90-179"),
                                             (180, "180+"), (5000, "180+")])
def test_stages_are_days_past_due_bands(dpd: int | None, stage: str) -> None:
    assert stage_of(dpd) == stage


def test_time_ranges_from_flags() -> None:
    assert TimeRange.from_flags("12h", None, None, NOW) == TimeRange(NOW - timedelta(hours=12),
                                                                     NOW)
    assert TimeRange.from_flags(None, None, None, NOW).start == NOW - timedelta(days=7)
    span = TimeRange.from_flags(None, "2026-11-01", "2026-11-08T06:00:00Z", NOW)
    assert span.start == datetime(2026, 11, 1, tzinfo=UTC)
    assert span.end == datetime(2026, 11, 8, 6, tzinfo=UTC)
    for flags, message in (
            (("3x", None, None), "--since: expected a duration such as 30m, 12h, 7d or 2w, "
                                 "found '3x'"),
            (("0d", None, None), "found '0d'"),
            (("7d", "2026-11-01", None), "give --since or --from, not both"),
            ((None, "yesterday", None), "--from: expected a date (2026-11-01) or an RFC 3339 "
                                        "time (2026-11-01T08:00:00Z), found 'yesterday'"),
            ((None, "2026-11-09", "2026-11-08"), "--from: expected a time before --to")):
        with pytest.raises(RangeError) as error:
            TimeRange.from_flags(*flags, now=NOW)
        assert message in str(error.value)


def test_lanes_keep_each_debtors_order_and_batch_debtors_together() -> None:
    seen: list[tuple[int, list[str]]] = []

    async def handler(kind: int, steps: list[Step]) -> None:
        seen.append((kind, [s.payload for s in steps]))

    def step(kind: int, minute: int, debtor: str) -> Step:
        return Step(kind, NOW + timedelta(minutes=minute), debtor, f"{debtor}{minute}")

    steps = [step(0, 0, "a"), step(1, 1, "a"), step(0, 2, "b"), step(1, 3, "a"),
             step(0, 4, "a"), step(1, 5, "b"), step(0, 6, "c")]
    lanes = Lanes({0: lambda s: handler(0, s), 1: lambda s: handler(1, s)})
    asyncio.run(lanes.run(steps))
    assert seen == [(0, ["a0", "b2", "c6"]), (1, ["a1", "a3", "b5"]), (0, ["a4"])]
    assert lanes.done == len(steps) and lanes.waves == 3


def _request(request_id: str, debtor: str = "d1", channel: str = "call") -> object:
    return request_from_dict({"request_id": request_id, "debtor_id": debtor,
                              "channel": channel, "destination": "+12125550100",
                              "requested_at": "2026-11-02T15:00:00Z"})


def _decision(word: str, *rules: str, policy: str = "p@1") -> dict[str, object]:
    return {"decision": word, "reasons": [{"rule": r} for r in rules], "retry_at": None,
            "shadow": [], "evaluated_at": "2026-11-02T15:00:00Z", "policy": policy}


def test_the_comparison_counts_changes_by_rule_channel_region_and_debtor() -> None:
    comparison = Comparison("q@2")
    comparison.add(_request("r1"), "US-NY", _decision("allowed"), _decision("allowed",
                                                                             policy="q@2"))
    comparison.add(_request("r2"), "US-NY", _decision("allowed"),
                   _decision("blocked", "q/a", "q/b", policy="q@2"))
    comparison.add(_request("r3", "d2", "sms"), "GB", _decision("blocked", "p/x"),
                   _decision("allowed", policy="q@2"))
    comparison.add(_request("r4", "d2", "sms"), "GB", _decision("blocked", "p/x"),
                   _decision("blocked", "q/y", policy="q@2"))
    comparison.add(_request("r5"), "US-NY", _decision("allowed"),
                   InvalidInput("reused", field="request_id"))
    figures = comparison.figures()
    totals = figures["totals"]
    assert (totals["requests"], totals["identical"], totals["newly_blocked"],
            totals["newly_allowed"], totals["reasons_changed"], totals["invalid"]) == (
        5, 1, 1, 1, 1, 1)
    rules = {r["rule"]: r for r in figures["by_rule"]}
    assert rules["q/a"]["newly_blocked"] == rules["q/b"]["newly_blocked"] == 1
    assert rules["q/a"]["examples"]["newly_blocked"] == ["r2"]
    assert rules["p/x"]["newly_allowed"] == 1 and rules["p/x"]["by_region"] == {
        "newly_blocked": {}, "newly_allowed": {"GB": 1}}
    channels = {r["channel"]: r for r in figures["by_channel"]}
    assert channels["call"]["recorded_allowed"] == 2 and channels["call"]["candidate_allowed"] == 1
    per = figures["contacts_per_debtor"]
    assert per["debtors"] == 2 and per["debtors_fewer"] == 1 and per["debtors_more"] == 1
    assert [d["request_id"] for d in figures["differences"]] == ["r2", "r3", "r5"]
    assert [d["request_id"] for d in figures["reason_differences"]] == ["r4"]
    assert figures["recorded_policies"] == {"p@1": 5}


def test_charts_carry_their_figures_and_escape_names() -> None:
    chart = svg.bars([("a<b", 3), ("c", 1)], label="x")
    assert "<title>a&lt;b: 3</title>" in chart and "a<b" not in chart
    grid = svg.heatmap(["call"], ["08", "09"], {("call", "08"): (0.25, "call at 8: 25%")},
                       label="h")
    assert "call, 09: no data" in grid and "call at 8: 25%" in grid
    whiskers = svg.columns(["08"], [("RPC", [0.3])], whiskers=[(0.2, 0.4)], label="w",
                           fmt=svg.percent, top=1.0)
    assert "08: 95% interval 20% to 40%" in whiskers
    assert "no data in this range" in svg.bars([], label="empty")


def test_empty_report_tables_say_why_they_are_empty() -> None:
    from gatekeeper.analytics.figures import Report
    from gatekeeper.analytics.page import NO_OUTCOMES, report_sections

    figures = Report(NOW - timedelta(days=1), NOW).figures()
    page = "".join(report_sections(figures))
    assert page.count(NO_OUTCOMES) >= 4  # two charts and the two tables below them
    assert f'<td class="muted" colspan="7">{NO_OUTCOMES}</td>' in page
    assert f'<td class="muted" colspan="4">{NO_OUTCOMES}</td>' in page
    figures["totals"]["outcomes"] = 3  # outcomes, but too few for either table
    page = "".join(report_sections(figures))
    assert "no channel and stage has an hour with 10 reported contacts yet" in page
    assert "no debtor answers one channel and ignores another yet" in page


def test_the_progress_bar_writes_lines_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress("decisions replayed", 200, out, every=0.0)
    progress.update(50)
    progress.finish()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[" + "#" * 8 + "." * 22 + "]  25% 50/200 decisions replayed")
    assert "\r" not in out.getvalue() and len(lines) == 2


@pytest.mark.parametrize(("args", "code", "message"), [
    (["report", "--since", "3x"], 1,
     "--since: expected a duration such as 30m, 12h, 7d or 2w, found '3x'"),
    (["backtest", "--policy", "nosuchpack", "--since", "1d"], 1, "no such policy pack"),
    (["report", "--out", "/nonexistent/report.html"], 2, "folder '/nonexistent' does not exist"),
    (["backtest", "--policy", "default", "--since", "1d", "--redis", "redis://h:1/0",
      "--jobs", "2"], 2, "a replay on one Redis (--redis) runs as one job, found --jobs 2"),
    (["backtest", "--policy", "default", "--jobs", "0"], 2, "0 is not in the range x>=1"),
    (["history", "generate", "--end", "2999-01-01"], 2,
     "--end: expected today or an earlier day, found 2999-01-01"),
])
def test_command_mistakes_are_messages(args: list[str], code: int, message: str) -> None:
    from click.testing import CliRunner

    from gatekeeper.cli import main

    result = CliRunner().invoke(main, args)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
