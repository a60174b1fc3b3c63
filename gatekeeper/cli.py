"""The ``gatekeeper`` command: parse, configure logging, call the library."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click

from gatekeeper.errors import GatekeeperError, PolicyError
from gatekeeper.settings import Settings


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group()
@click.version_option(package_name="gatekeeper")
def main() -> None:
    """Contact-compliance gatekeeper for debt collection."""


@main.command()
@click.option("--broker", help="Kafka bootstrap, e.g. kafka://127.0.0.1:9092 [GATEKEEPER_BROKER]")
@click.option("--redis", "redis_url", help="Redis URL [GATEKEEPER_REDIS]")
@click.option("--policy", help="comma-separated packs or files [GATEKEEPER_POLICY]")
@click.option("--topic-prefix", help="prefix of every topic [GATEKEEPER_TOPIC_PREFIX]")
@click.option("--app-id", help="consumer group [GATEKEEPER_APP_ID]")
@click.option("--metrics-port", type=int, help="Prometheus port, 0 for none "
                                               "[GATEKEEPER_METRICS_PORT]")
@click.option("--loglevel", default="info", show_default=True)
@click.option("--demo", is_flag=True, help="allow running without a signing key")
def worker(broker: str | None, redis_url: str | None, policy: str | None,
           topic_prefix: str | None, app_id: str | None, metrics_port: int | None,
           loglevel: str, demo: bool) -> None:
    """Run the stream processor."""
    import faust

    from gatekeeper import metrics
    from gatekeeper.stream.app import create_app

    settings = Settings.from_env(broker=broker, redis=redis_url, policy=policy,
                                 topic_prefix=topic_prefix, app_id=app_id,
                                 metrics_port=metrics_port)
    try:
        app = create_app(settings, signing_required=not demo)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from exc
    from gatekeeper.policy import load_policy
    from gatekeeper.restore import needed_days
    from gatekeeper.topics import TopicRetentionError, check_retention, ensure_topics

    asyncio.run(ensure_topics(settings))
    needed = needed_days(load_policy(settings.policy).max_window_days,
                         settings.decision_ttl_days)
    try:
        asyncio.run(check_retention(settings, needed))
    except TopicRetentionError as exc:
        raise click.ClickException(str(exc)) from exc
    metrics.serve(settings.metrics_port)
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()


@main.command()
@click.option("--broker", help="Kafka bootstrap [GATEKEEPER_BROKER]")
@click.option("--redis", "redis_url", help="Redis URL [GATEKEEPER_REDIS]")
@click.option("--policy", help="comma-separated packs or files [GATEKEEPER_POLICY]")
@click.option("--topic-prefix", help="prefix of every topic [GATEKEEPER_TOPIC_PREFIX]")
@click.option("--loglevel", default="warning", show_default=True)
def restore(broker: str | None, redis_url: str | None, policy: str | None,
            topic_prefix: str | None, loglevel: str) -> None:
    """Rebuild Redis from the Kafka record (debtor.events, contact.decisions, contact.outcomes).

    Running workers hold (decide nothing) while it runs and carry on afterwards. Safe to run
    again: every run wipes the working copy and replays the same record. Workers rebuild by
    themselves when they notice a loss; this is the same rebuild, by hand (for example after
    restoring Redis from a backup, or to measure it)."""
    _logging(loglevel)
    settings = Settings.from_env(broker=broker, redis=redis_url, policy=policy,
                                 topic_prefix=topic_prefix)
    if not settings.hash_key:
        raise click.ClickException("GATEKEEPER_HASH_KEY is not set: the rebuild hashes phone "
                                   "numbers and addresses with the workers' key")
    from gatekeeper.rebuild_cli import run_restore

    try:
        stats = asyncio.run(run_restore(settings, lambda text: click.echo(text, err=True)))
    except GatekeeperError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(" ".join(f"{k}={v}" for k, v in sorted(stats.items())))


@main.command()
@click.option("--seconds", type=float, default=20.0, show_default=True)
@click.option("--rate", type=float, default=150.0, show_default=True,
              help="requests per second from the synthetic dialer")
@click.option("--debtors", type=int, default=400, show_default=True)
@click.option("--redis", "redis_url", default="redis://127.0.0.1:6379/14", show_default=True,
              help="the demo flushes this database first")
def demo(seconds: float, rate: float, debtors: int, redis_url: str) -> None:
    """Run the worker with a synthetic dialer on the local stack and show what it decides."""
    import time as _time

    from gatekeeper.demo import run_demo

    settings = Settings.from_env(redis=redis_url, app_id=f"gatekeeper-demo-{int(_time.time())}",
                                 topic_prefix=f"demo{int(_time.time())}.")
    sys.exit(asyncio.run(run_demo(settings, seconds, rate, debtors)))


@main.command()
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--policy", "policies", multiple=True, required=True,
              help="a pack name or file; repeat for several")
@click.option("--redis", "redis_url", help="use this Redis instead of a private one")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              help="write decisions here (default: standard output)")
def simulate(input_file: Path, policies: tuple[str, ...], redis_url: str | None,
             out_file: Path | None) -> None:
    """Replay INPUT_FILE (JSON lines) through the same decision code and Lua."""
    from gatekeeper.simulate import run_simulation

    try:
        count = asyncio.run(run_simulation(input_file, list(policies), redis_url, out_file))
    except GatekeeperError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{count} decisions", err=True)


@main.group()
def policy() -> None:
    """Check and read policy packs."""


@policy.command("check")
@click.argument("packs", nargs=-1, required=True)
def policy_check(packs: tuple[str, ...]) -> None:
    """Validate packs (names or files); exit 1 with file, path and message."""
    from gatekeeper.policy import load_pack

    failed = False
    for spec in packs:
        try:
            pack = load_pack(spec)
        except PolicyError as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        click.echo(f"ok: {pack.name} ({len(pack.rules)} rules, sha256 {pack.digest[:12]})")
    sys.exit(1 if failed else 0)


@policy.command("show")
@click.argument("pack_name")
def policy_show(pack_name: str) -> None:
    """Print a pack as a compliance officer reads it."""
    from gatekeeper.policy import load_pack
    from gatekeeper.policy.describe import describe

    try:
        click.echo(describe(load_pack(pack_name)))
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def debtor() -> None:
    """Inspect a debtor's stored state."""


@debtor.command("show")
@click.argument("debtor_id")
@click.option("--redis", "redis_url", help="Redis URL [GATEKEEPER_REDIS]")
def debtor_show(debtor_id: str, redis_url: str | None) -> None:
    """Print a debtor's status and current counters."""
    from gatekeeper.views import show_debtor

    settings = Settings.from_env(redis=redis_url)
    try:
        click.echo(asyncio.run(show_debtor(settings, debtor_id)))
    except GatekeeperError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def review() -> None:
    """Follow the review topic."""


@review.command("tail")
@click.option("--broker", help="Kafka bootstrap [GATEKEEPER_BROKER]")
@click.option("--topic-prefix", help="[GATEKEEPER_TOPIC_PREFIX]")
@click.option("--from-beginning", is_flag=True, help="start at the oldest message")
@click.option("--limit", type=int, default=0, help="stop after this many rows (0: follow)")
def review_tail(broker: str | None, topic_prefix: str | None, from_beginning: bool,
                limit: int) -> None:
    """Follow contact.review as a readable table."""
    from gatekeeper.views import tail_review

    settings = Settings.from_env(broker=broker, topic_prefix=topic_prefix)
    asyncio.run(tail_review(settings, from_beginning, limit, click.echo))


@main.command()
@click.option("--broker", help="Kafka bootstrap [GATEKEEPER_BROKER]")
@click.option("--topic-prefix", help="[GATEKEEPER_TOPIC_PREFIX]")
@click.option("--policy", help="the packs the worker ran with [GATEKEEPER_POLICY]")
@click.option("--json", "as_json", is_flag=True, help="print the counts as JSON")
def check(broker: str | None, topic_prefix: str | None, policy: str | None,
          as_json: bool) -> None:
    """Check the invariants over the request topic and the three outputs (exit 1 if broken)."""
    import orjson

    from gatekeeper.invariants import check_topics, describe_counts
    from gatekeeper.policy import load_policy
    from gatekeeper.topics import bootstrap

    settings = Settings.from_env(broker=broker, topic_prefix=topic_prefix, policy=policy)
    report = asyncio.run(check_topics(bootstrap(settings.broker), settings.topics,
                                      load_policy(settings.policy)))
    click.echo(orjson.dumps(describe_counts(report)).decode() if as_json else report.summary())
    sys.exit(0 if report.ok else 1)


@main.command()
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="file with accepted keys, one a line (else GATEKEEPER_SIGNING_KEY)")
@click.argument("message_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--request-id", required=True)
@click.option("--decision-id", required=True)
@click.option("--policy", "policy_version", required=True)
@click.option("--signature", required=True)
def verify(key_file: Path | None, message_file: Path, request_id: str, decision_id: str,
           policy_version: str, signature: str) -> None:
    """Check a gk-signature over a message value (exit 0 valid, 1 not)."""
    from gatekeeper.signing import verify as check

    if key_file:
        keys = [line.strip().encode() for line in key_file.read_text().splitlines()
                if line.strip()]
    else:
        keys = Settings.from_env().signing_keys
    if not keys:
        raise click.ClickException("no key: set GATEKEEPER_SIGNING_KEY or pass --key-file")
    ok = check(keys, signature, request_id, decision_id, policy_version,
               message_file.read_bytes())
    click.echo("valid" if ok else "INVALID signature")
    sys.exit(0 if ok else 1)


from gatekeeper.http.cli import apikeys, serve  # noqa: E402 - the HTTP API's commands

main.add_command(serve)
main.add_command(apikeys)

if __name__ == "__main__":
    main()
