"""Stage timings of checks (GATEKEEPER_HTTP_STAGES): each stage is the gap between two of its
batch's steps, and a summary is over the checks since the last one."""

from __future__ import annotations

import pytest

from gatekeeper.http.stages import STAGES, BatchTimes, Stages


def test_off_by_default_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEKEEPER_HTTP_STAGES", raising=False)
    stages = Stages()
    assert not stages.enabled and stages.batch() is None
    stages.check(0.0, None, 1.0)
    assert stages.summary() == {"checks": 0}


def test_on_with_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_HTTP_STAGES", "1")
    assert Stages().enabled and Stages().batch() is not None


def test_each_stage_is_the_gap_between_two_steps_and_a_summary_resets(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stages = Stages(enabled=True)
    batch = BatchTimes(start=10.0, ends=10.002, read=10.003, redis=10.007, queued=10.0075)
    monkeypatch.setattr("gatekeeper.http.stages.time.perf_counter", lambda: 10.020)
    stages.check(submitted=9.999, batch=batch, resumed=10.008)
    summary = stages.summary()
    assert summary["checks"] == 1
    expected = {"batcher": 1.0, "list_offsets": 2.0, "events": 1.0, "redis": 4.0,
                "audit_queue": 0.5, "resume": 0.5, "audit_ack": 12.0, "total": 21.0}
    assert set(expected) == set(STAGES)
    for stage, ms in expected.items():
        assert summary[stage] == [ms, ms, ms], stage  # p50, p99, max of one check
    assert stages.summary() == {"checks": 0}


def test_a_batch_without_a_catch_up_has_no_list_offsets_or_events_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stages = Stages(enabled=True)
    batch = BatchTimes(start=1.0, ends=0.0, read=0.0, redis=1.004, queued=1.004)
    monkeypatch.setattr("gatekeeper.http.stages.time.perf_counter", lambda: 1.005)
    stages.check(submitted=1.0, batch=batch, resumed=1.004)
    summary = stages.summary()
    assert summary["list_offsets"] == [0.0, 0.0, 0.0] and summary["events"] == [0.0, 0.0, 0.0]
    assert summary["redis"] == [4.0, 4.0, 4.0]
