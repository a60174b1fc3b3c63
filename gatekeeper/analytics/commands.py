"""The click commands ``report``, ``backtest`` and ``history generate`` (added to the
``gatekeeper`` group by ``gatekeeper.cli``)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from gatekeeper.cli_options import output_file_option, redis_option
from gatekeeper.settings import Settings


def _range_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--since", help="the last N minutes/hours/days/weeks before --to "
                                     "(30m, 12h, 7d, 2w) [default: 7d]"),
        click.option("--from", "start", help="start of the range: a date (UTC) or an RFC "
                                             "3339 time"),
        click.option("--to", "end", help="end of the range (default: now)"),
        click.option("--broker", help="Kafka bootstrap [GATEKEEPER_BROKER]"),
        click.option("--topic-prefix", help="[GATEKEEPER_TOPIC_PREFIX]"),
        click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
                     callback=output_file_option,
                     help="write the figures here (default: --out with .json)"),
    ]):
        command = option(command)
    return command


def _quiet_kafka() -> None:
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())


@click.command()
@_range_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default="report.html",
              show_default=True, callback=output_file_option, help="the HTML report")
def report(since: str | None, start: str | None, end: str | None, broker: str | None,
           topic_prefix: str | None, json_out: Path | None, out: Path) -> None:
    """Volumes, block rates and contact outcomes of a time range of contact.decisions and
    contact.outcomes: a self-contained HTML page with charts, and the same figures as JSON."""
    from gatekeeper.analytics.page import report_page
    from gatekeeper.analytics.run import run_report, write_outputs
    from gatekeeper.analytics.sources import TimeRange

    span = TimeRange.from_flags(since, start, end)
    settings = Settings.from_env(broker=broker, topic_prefix=topic_prefix)
    _quiet_kafka()
    figures = _kafka(run_report(settings, span), settings)
    json_path = write_outputs(figures, report_page(figures), out, json_out)
    totals = figures["totals"]
    click.echo(f"{totals['requests']:,} requests ({totals['blocked']:,} blocked), "
               f"{totals['outcomes']:,} outcomes, {totals['debtors']:,} debtors: "
               f"{out} and {json_path}")


@click.command()
@click.option("--policy", "policies", multiple=True, required=True,
              help="the candidate: a pack name or file; repeat for several")
@_range_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default="backtest.html", show_default=True, callback=output_file_option,
              help="the HTML comparison")
@click.option("--redis", "redis_url", callback=redis_option,
              help="replay on this Redis (it must hold no working copy) instead of a "
                   "private redis-server")
@click.option("--jobs", type=click.IntRange(min=1),
              help="replay in this many processes, debtors sharded among them, each with "
                   "a private redis-server  [default: the CPU cores; 1 with --redis]")
def backtest(policies: tuple[str, ...], since: str | None, start: str | None,
             end: str | None, broker: str | None, topic_prefix: str | None,
             json_out: Path | None, out: Path, redis_url: str | None,
             jobs: int | None) -> None:
    """Replay the recorded requests, events and outcomes of a time range through the same
    core and Lua with a candidate policy, and compare with the decisions recorded."""
    from gatekeeper.analytics.page import backtest_page
    from gatekeeper.analytics.run import run_backtest, write_outputs
    from gatekeeper.analytics.sources import TimeRange

    if redis_url is not None and (jobs or 1) > 1:
        raise click.BadParameter(f"a replay on one Redis (--redis) runs as one job, found "
                                 f"--jobs {jobs}: omit --redis for private redis-servers, "
                                 "or give --jobs 1", param_hint="--jobs")
    jobs = jobs or (1 if redis_url is not None else os.cpu_count() or 1)
    span = TimeRange.from_flags(since, start, end)
    settings = Settings.from_env(broker=broker, topic_prefix=topic_prefix)
    _quiet_kafka()
    figures = _kafka(run_backtest(settings, list(policies), span, redis_url, jobs), settings)
    json_path = write_outputs(figures, backtest_page(figures), out, json_out)
    totals, replay = figures["totals"], figures["replay"]
    click.echo(f"{totals['requests']:,} requests replayed ({replay['requests_per_second']:,}/s):"
               f" {totals['identical']:,} identical, {totals['newly_blocked']:,} newly "
               f"blocked, {totals['newly_allowed']:,} newly allowed: {out} and {json_path}")


@click.group()
def history() -> None:
    """Synthetic history for demos, tests and benchmarks."""


@history.command("generate")
@click.option("--days", type=click.IntRange(1, 30), default=30, show_default=True,
              help="days of traffic, ending at --end (a request older than "
                   "GATEKEEPER_MAX_REQUEST_AGE_DAYS is refused live, so at most 30)")
@click.option("--debtors", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@click.option("--end", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="the day after the last one (default: today, UTC)")
@click.option("--seed", type=int, default=16, show_default=True)
@click.option("--policy", "policies", multiple=True, default=("default",), show_default=True,
              help="the packs that decide it")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              callback=output_file_option,
              help="write a simulate history here instead of producing to Kafka")
@click.option("--broker", help="Kafka bootstrap [GATEKEEPER_BROKER]")
@click.option("--topic-prefix", help="[GATEKEEPER_TOPIC_PREFIX]")
def history_generate(days: int, debtors: int, end: Any, seed: int, policies: tuple[str, ...],
                     out_file: Path | None, broker: str | None, topic_prefix: str | None
                     ) -> None:
    """A month of synthetic traffic whose outcomes have a known structure, decided by the
    same gate: produced onto debtor.events, contact.decisions and contact.outcomes (empty
    topics only) with its own timestamps, as a worker would have recorded it; or, with
    --out, written as a simulate history."""
    from gatekeeper.analytics.run import generate
    from gatekeeper.analytics.synthetic import SyntheticHistory

    last: date | None = end.date() if end else None
    if last is not None and last > datetime.now(UTC).date():
        raise click.BadParameter(f"expected today or an earlier day, found {last}",
                                 param_hint="--end")
    settings = Settings.from_env(broker=broker, topic_prefix=topic_prefix)
    _quiet_kafka()
    synthetic = SyntheticHistory(debtors, days, end=last, seed=seed)
    counts = _kafka(generate(settings, synthetic, list(policies), out_file), settings)
    where = str(out_file) if out_file else ", ".join(
        settings.topics[k] for k in ("events", "decisions", "outcomes"))
    click.echo(f"{counts['decisions']:,} decisions, {counts['events']:,} events, "
               f"{counts['outcomes']:,} outcomes from {synthetic.start:%Y-%m-%d} to "
               f"{synthetic.end:%Y-%m-%d}: {where}")


def _kafka(job: Any, settings: Settings) -> Any:
    """Run ``job``; an unreachable broker is a message, not a traceback."""
    from aiokafka.errors import KafkaError

    try:
        return asyncio.run(job)
    except (KafkaError, OSError) as exc:
        raise click.ClickException(
            f"cannot read or write the record on Kafka at {settings.broker} "
            f"({type(exc).__name__}: {exc}); check --broker / GATEKEEPER_BROKER and that the "
            "broker is up") from exc
