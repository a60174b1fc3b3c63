"""``gatekeeper backtest`` and ``gatekeeper report`` over what a real worker recorded on Kafka:
the worker decides live traffic (events first, then requests, outcomes of the allowed
contacts, then more requests), and the backtest of the policy it ran reproduces every
decision it recorded, field by field; a stricter candidate blocks exactly the extra calls
it should; the report counts what the topics hold."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from click.testing import CliRunner
from worker_process import WorkerProcess, worker_env

from gatekeeper.analytics.synthetic import live_outcome
from gatekeeper.cli import main
from gatekeeper.settings import Settings
from gatekeeper.topics import ensure_topics
from gatekeeper.traffic import DEMO, Profile, Traffic

POLICY = "default,us-reg-f"
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
pytestmark = pytest.mark.timeout(300)


async def _produce(bootstrap: str, topic: str, values: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, orjson.dumps(value),
                                         key=value["debtor_id"].encode())
    finally:
        await producer.stop()


def _daytime(profile: Profile) -> Profile:
    """The profile's debtors in its zones where it is 09:00-19:59 now: the worker decides at
    the wall clock, and with the demo's zones as they are, from three to five of eight are in
    their quiet hours depending on the hour this runs at (and so half as many contacts are
    allowed and have an outcome). Night blocks are the fault suite's; here the blocks are
    limits and statuses."""
    now = datetime.now(UTC)
    zones = tuple(z for z in profile.zones if 9 <= now.astimezone(ZoneInfo(z.timezone)).hour < 20)
    assert zones, "no zone of the profile is in its day now"
    return replace(profile, zones=zones)


async def _cli(*args: str) -> dict[str, Any]:
    """The command in a thread of its own (it runs its own event loop)."""
    return await asyncio.to_thread(_run_cli, *args)


def _run_cli(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("--json") + 1])
    return orjson.loads(out.read_bytes())  # type: ignore[no-any-return]


async def test_a_backtest_of_the_running_policy_reproduces_what_the_worker_recorded(
        stack: Any, topic_prefix: str, app_id: str, redis_url: str, tmp_path: Path,
        create_topics: Callable[..., Awaitable[list[str]]],
        consume: Callable[..., Awaitable[list[Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env(broker=stack.broker_url, topic_prefix=topic_prefix)
    await ensure_topics(settings)  # (the create_topics fixture deletes them afterwards)
    traffic = Traffic(_daytime(DEMO), 120, seed=11, run=topic_prefix.rstrip("."))
    rng = random.Random(3)
    # events first, then time for the worker to apply them: none races a request
    await _produce(stack.bootstrap, settings.topics["events"],
                   [traffic.event(traffic.debtors[i]) for i in range(0, 120, 8)])
    worker = WorkerProcess(tmp_path / "worker.log", worker_env(
        stack.broker_url, redis_url, topic_prefix, app_id, Path(POLICY), "k")).start()
    try:
        first = [orjson.loads(traffic.request()[1]) for _ in range(400)]
        await _produce(stack.bootstrap, settings.topics["requests"], first)
        decided = await consume(settings.topics["decisions"], len(first), timeout=90)
        now = datetime.now(UTC)
        outcomes = [live_outcome(body["request"], now, rng) for body in
                    (orjson.loads(r.value) for r in decided)
                    if body["decision"]["decision"] == "allowed"]
        await _produce(stack.bootstrap, settings.topics["outcomes"], outcomes)
        await asyncio.sleep(3)  # applied (cool-downs of conversations) before what follows
        second = [orjson.loads(traffic.request()[1]) for _ in range(400)]
        await _produce(stack.bootstrap, settings.topics["requests"], second)
        records = await consume(settings.topics["decisions"], len(first) + len(second),
                                timeout=90)
    finally:
        worker.stop()
    recorded = [orjson.loads(r.value) for r in records]
    assert any(d["decision"]["decision"] == "blocked" for d in recorded)
    monkeypatch.setenv("GATEKEEPER_BROKER", stack.broker_url)
    common = ["--topic-prefix", topic_prefix, "--since", "1h"]

    same = await _cli("backtest", "--policy", "default", "--policy", "us-reg-f", *common,
                "--out", str(tmp_path / "same.html"), "--json", str(tmp_path / "same.json"))
    assert same["totals"]["requests"] == len(recorded) == 800
    assert same["totals"]["identical"] == 800, same["differences"][:3]
    assert same["recorded_policies"] == {same["candidate_policy"]: 800}
    assert same["replay"]["outcomes"] == len(outcomes) > 100

    strict = tmp_path / "strict.yaml"
    strict.write_text(STRICT)
    stricter = await _cli("backtest", "--policy", "default", "--policy", "us-reg-f", "--policy",
                    str(strict), *common, "--out", str(tmp_path / "strict.html"),
                    "--json", str(tmp_path / "strict.json"))
    expected = {d["request"]["request_id"] for d in recorded
                if d["request"]["channel"] == "call" and d["decision"]["decision"] == "allowed"
                and not 9 <= datetime.fromisoformat(d["decision"]["evaluated_at"]).astimezone(
                    ZoneInfo(d["request"]["debtor"]["timezone"])).hour < 18}
    rules = {r["rule"]: r for r in stricter["by_rule"]}
    found = rules.get("strict/calls-9-to-18", {"newly_blocked": 0})["newly_blocked"]
    assert found == len(expected)  # (0 when every zone of the demo is at 09-18 now)

    report = await _cli("report", *common, "--out", str(tmp_path / "report.html"),
                  "--json", str(tmp_path / "report.json"))
    assert report["totals"]["requests"] == 800
    assert report["totals"]["allowed"] == sum(d["decision"]["decision"] == "allowed"
                                              for d in recorded)
    assert report["totals"]["outcomes"] == len(outcomes)
    assert (tmp_path / "report.html").read_text().count("<svg") >= 8


async def test_history_generate_records_onto_empty_topics_only(
        stack: Any, topic_prefix: str, tmp_path: Path,
        create_topics: Callable[..., Awaitable[list[str]]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_BROKER", stack.broker_url)
    args = ["history", "generate", "--days", "3", "--debtors", "30", "--topic-prefix",
            topic_prefix]
    first = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert first.exit_code == 0, first.output
    assert f"{topic_prefix}contact.decisions" in first.output
    again = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert again.exit_code == 1
    assert "already holds messages" in again.output
    report = await _cli("report", "--topic-prefix", topic_prefix, "--since", "4d", "--out",
                        str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json"))
    summary = first.output.strip().splitlines()[-1]  # "N decisions, N events, N outcomes..."
    decided = int(summary.split()[0].replace(",", ""))
    assert report["totals"]["requests"] == decided > 50
    assert report["totals"]["outcomes"] > 0
