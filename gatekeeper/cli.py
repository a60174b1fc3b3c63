"""The ``gatekeeper`` command: parse, configure logging, call the library."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import click

from gatekeeper.cli_options import output_file_option, redis_option, tail_options
from gatekeeper.errors import GatekeeperError, PolicyError
from gatekeeper.settings import Settings


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


class _Group(click.Group):
    """The top group: our own errors (a bad setting, an unreadable pack, an unreachable
    service) end as a message and exit code 1 in every command, never as a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GatekeeperError as exc:
            raise click.ClickException(str(exc)) from exc
        except Exception as exc:  # a refusal by Kafka or Redis (password, CA, ACL) in words
            message = _refusal(exc)
            if message is None:
                raise
            raise click.ClickException(message) from exc


def _refusal(exc: BaseException) -> str | None:
    from gatekeeper.access_errors import explain
    from gatekeeper.brokers import BrokerURLError, bootstrap

    try:
        servers = bootstrap(Settings.from_env().broker)
    except (BrokerURLError, GatekeeperError):
        servers = None
    return explain(exc, servers)


@click.group(cls=_Group)
@click.version_option(package_name="gatekeeper")
def main() -> None:
    """Contact-compliance gatekeeper for debt collection."""


@main.command()
@click.option("--broker", help="Kafka bootstrap, e.g. kafka://127.0.0.1:9092 [GATEKEEPER_BROKER]")
@click.option("--redis", "redis_url", callback=redis_option,
              help="Redis URL [GATEKEEPER_REDIS]")
@click.option("--policy", help="comma-separated packs or files [GATEKEEPER_POLICY]")
@click.option("--topic-prefix", help="prefix of every topic [GATEKEEPER_TOPIC_PREFIX]")
@click.option("--app-id", help="consumer group [GATEKEEPER_APP_ID]")
@click.option("--metrics-port", type=int, help="Prometheus port, 0 for none "
                                               "[GATEKEEPER_METRICS_PORT]")
@click.option("--bind", "metrics_host", help="address of the Prometheus endpoint, 0.0.0.0 for "
                                             "every interface [GATEKEEPER_METRICS_HOST]")
@click.option("--loglevel", default="info", show_default=True)
@click.option("--demo", is_flag=True, help="allow running without a signing key")
def worker(broker: str | None, redis_url: str | None, policy: str | None,
           topic_prefix: str | None, app_id: str | None, metrics_port: int | None,
           metrics_host: str | None, loglevel: str, demo: bool) -> None:
    """Run the stream processor."""
    import faust

    from gatekeeper import metrics
    from gatekeeper.brokers import BrokerURLError, bootstrap
    from gatekeeper.stream.app import create_app

    settings = Settings.from_env(broker=broker, redis=redis_url, policy=policy,
                                 topic_prefix=topic_prefix, app_id=app_id,
                                 metrics_port=metrics_port, metrics_host=metrics_host)
    try:
        bootstrap(settings.broker)  # a broken broker URL is a message, not a traceback
        app = create_app(settings, signing_required=not demo)
    except (PolicyError, BrokerURLError) as exc:
        raise click.ClickException(str(exc)) from exc
    from aiokafka.errors import KafkaError

    from gatekeeper.policy import load_policy
    from gatekeeper.restore import needed_days
    from gatekeeper.topics import TopicRetentionError, check_retention, ensure_topics

    needed = needed_days(load_policy(settings.policy).max_window_days,
                         settings.decision_ttl_days)
    try:
        asyncio.run(ensure_topics(settings))
        asyncio.run(check_retention(settings, needed))
    except TopicRetentionError as exc:
        raise click.ClickException(str(exc)) from exc
    except (KafkaError, OSError, TimeoutError) as exc:
        raise click.ClickException(_refusal(exc) or (
            f"cannot reach Kafka at {settings.broker} to check the "
            f"topics ({type(exc).__name__}: {exc}); check --broker / "
            "GATEKEEPER_BROKER and that the broker is up")) from exc
    try:
        metrics.serve(settings.metrics_port, settings.metrics_host)
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: "
            f"{exc.strerror or exc} (GATEKEEPER_METRICS_HOST / --bind, "
            "GATEKEEPER_METRICS_PORT / --metrics-port)") from exc
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
              callback=redis_option,
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
@click.option("--redis", "redis_url", callback=redis_option,
              help="use this Redis instead of a private one")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              callback=output_file_option,
              help="write decisions here (default: standard output)")
@click.option("--skip-invalid", is_flag=True,
              help="report bad lines on standard error and go on without them "
                   "(a bad request line gets the decision 'invalid')")
def simulate(input_file: Path, policies: tuple[str, ...], redis_url: str | None,
             out_file: Path | None, skip_invalid: bool) -> None:
    """Replay INPUT_FILE (JSON lines) through the same decision code and Lua.

    Each line is {"kind": "request" | "event" | "outcome", "data": {...}}; blank lines and
    lines starting with # are skipped. Any bad line stops the run before it starts, with its
    line number, unless --skip-invalid."""
    from gatekeeper.simulate import run_simulation

    count = asyncio.run(run_simulation(input_file, list(policies), redis_url, out_file,
                                       skip_invalid=skip_invalid,
                                       report=lambda text: click.echo(text, err=True)))
    click.echo(f"{count} decision{'' if count == 1 else 's'}", err=True)


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


@policy.command("list")
def policy_list() -> None:
    """The shipped packs: name, the regions they apply to, rule count, title."""
    from gatekeeper.policy.catalog import pack_table

    lines, failed = pack_table()
    click.echo("\n".join(lines))
    for error in failed:
        click.echo(f"error: {error}", err=True)
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
@click.option("--redis", "redis_url", callback=redis_option,
              help="Redis URL [GATEKEEPER_REDIS]")
@click.option("--policy", help="packs whose rule names to show [GATEKEEPER_POLICY]; the "
                               "shipped packs are always known")
def debtor_show(debtor_id: str, redis_url: str | None, policy: str | None) -> None:
    """Print a debtor's status, opt-outs and current counters (rule, scope, local period,
    count); exit 1 when nothing is stored for the debtor."""
    from gatekeeper.views import show_debtor

    settings = Settings.from_env(redis=redis_url, policy=policy)
    text = asyncio.run(show_debtor(settings, debtor_id))
    if text is None:
        click.echo(f"no debtor {debtor_id!r}: nothing is stored for it in this Redis (no "
                   "event and no decision yet, or all expired)", err=True)
        sys.exit(1)
    click.echo(text)


@main.group()
def decision() -> None:
    """Read recorded decisions."""


@decision.command("show")
@click.argument("request_id")
@click.option("--debtor", "debtor_id",
              help="the request's debtor id (required): decisions are recorded in the "
                   "debtor's own Redis hash, not indexed by request id")
@click.option("--redis", "redis_url", callback=redis_option,
              help="Redis URL [GATEKEEPER_REDIS]")
@click.option("--policy", help="packs whose rule names to show [GATEKEEPER_POLICY]")
def decision_show(request_id: str, debtor_id: str | None, redis_url: str | None,
                  policy: str | None) -> None:
    """Print the decision on record for REQUEST_ID: allowed or blocked, when, the static
    rules that blocked it, the counts it saw, the outcome reported; exit 1 when none is on
    record (records are kept one to two GATEKEEPER_DECISION_TTL_DAYS).

    The debtor id is needed because each decision is recorded in its debtor's hash, which
    the gate reads and writes in the same atomic step as the counters (one Redis Cluster
    slot per debtor); an index by request id would cost a second key per decision. The
    debtor id is on every message that carries a request id: the request, the review row,
    the allowed message's key, the dead letter."""
    from gatekeeper.views import show_decision

    if not debtor_id:
        raise click.UsageError(
            "give the request's debtor: --debtor DEBTOR_ID. Decisions are recorded in their "
            "debtor's Redis hash, not indexed by request id; the debtor id is on the request, "
            "on its review row (review tail), as the allowed message's key and on the dead "
            "letter.")
    settings = Settings.from_env(redis=redis_url, policy=policy)
    text = asyncio.run(show_decision(settings, request_id, debtor_id))
    if text is None:
        click.echo(f"no decision on record for request {request_id!r} of debtor "
                   f"{debtor_id!r}: never decided, decided for another debtor, expired, or "
                   "invalid (invalid input is not recorded: see invalid tail)", err=True)
        sys.exit(1)
    click.echo(text)


def _tail(topic: str, broker: str | None, topic_prefix: str | None, from_beginning: bool,
          limit: int, timeout: float) -> None:
    from gatekeeper.brokers import bootstrap
    from gatekeeper.tail import INVALID_HEADER, REVIEW_HEADER, invalid_row, review_row, tail

    settings = Settings.from_env(broker=broker, topic_prefix=topic_prefix)
    # aiokafka logs each failed connection attempt; the command says it once, plainly
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    if topic == "review":
        header, what = REVIEW_HEADER, "blocked requests"

        def row(message: Any) -> str:
            return review_row(message.value)
    else:
        header, what = INVALID_HEADER, "dead letters"

        def row(message: Any) -> str:
            return invalid_row(message.value, message.timestamp)
    asyncio.run(tail(bootstrap(settings.broker), settings.topics[topic], header, row,
                     from_beginning=from_beginning, limit=limit, echo=click.echo,
                     note=lambda text: click.echo(text, err=True), what=what,
                     variable=topic.upper(), timeout=timeout))


@main.group()
def review() -> None:
    """Follow the review topic."""


@review.command("tail")
@tail_options
def review_tail(broker: str | None, topic_prefix: str | None, from_beginning: bool,
                limit: int, timeout: float) -> None:
    """Follow contact.review as a table: time, debtor, channel, rule, message, retry_at."""
    _tail("review", broker, topic_prefix, from_beginning, limit, timeout)


@main.group()
def invalid() -> None:
    """Follow the dead-letter topic."""


@invalid.command("tail")
@tail_options
def invalid_tail(broker: str | None, topic_prefix: str | None, from_beginning: bool,
                 limit: int, timeout: float) -> None:
    """Follow contact.invalid as a table: time, source (topic[partition]@offset), field,
    message, and the start of the raw value."""
    _tail("invalid", broker, topic_prefix, from_beginning, limit, timeout)


@main.command()
@click.option("--broker", help="Kafka bootstrap [GATEKEEPER_BROKER]")
@click.option("--topic-prefix", help="[GATEKEEPER_TOPIC_PREFIX]")
@click.option("--policy", help="the packs the worker ran with [GATEKEEPER_POLICY]")
@click.option("--json", "as_json", is_flag=True, help="print the counts as JSON")
def check(broker: str | None, topic_prefix: str | None, policy: str | None,
          as_json: bool) -> None:
    """Check the invariants over the request topic, the three outputs and the debtor events
    (exit 1 if broken)."""
    import orjson
    from aiokafka.errors import KafkaError

    from gatekeeper.brokers import BrokerURLError, bootstrap
    from gatekeeper.invariants import check_topics, describe_counts
    from gatekeeper.policy import load_policy

    settings = Settings.from_env(broker=broker, topic_prefix=topic_prefix, policy=policy)
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())  # said once, below
    try:
        servers = bootstrap(settings.broker)
    except BrokerURLError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        report = asyncio.run(check_topics(servers, settings.topics,
                                          load_policy(settings.policy)))
    except (KafkaError, OSError) as exc:
        raise click.ClickException(_refusal(exc) or (
            f"cannot read the topics from Kafka at {settings.broker} "
            f"({type(exc).__name__}); check --broker / "
            "GATEKEEPER_BROKER and that the broker is up")) from exc
    click.echo(orjson.dumps(describe_counts(report)).decode() if as_json else report.summary())
    sys.exit(0 if report.ok else 1)


@main.command()
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="file with accepted keys, one a line (else GATEKEEPER_SIGNING_KEY)")
@click.argument("message_file", type=click.Path(exists=True, dir_okay=False, allow_dash=True,
                                                path_type=Path))
@click.option("--request-id", required=True)
@click.option("--decision-id", required=True)
@click.option("--policy", "policy_version", required=True)
@click.option("--signature", required=True)
def verify(key_file: Path | None, message_file: Path, request_id: str, decision_id: str,
           policy_version: str, signature: str) -> None:
    """Check a gk-signature over a message value (exit 0 valid, 1 not). MESSAGE_FILE holds
    the value's exact bytes; - reads them from standard input."""
    from gatekeeper.signing import verify as check

    if key_file:
        keys = [line.strip().encode() for line in key_file.read_text().splitlines()
                if line.strip()]
    else:
        keys = Settings.from_env().signing_keys
    if not keys:
        raise click.ClickException("no key: set GATEKEEPER_SIGNING_KEY or pass --key-file")
    value = (click.get_binary_stream("stdin").read() if str(message_file) == "-"
             else message_file.read_bytes())
    ok = check(keys, signature, request_id, decision_id, policy_version, value)
    click.echo("valid" if ok else "INVALID signature")
    sys.exit(0 if ok else 1)


from gatekeeper.http.cli import apikeys, serve  # noqa: E402 - the HTTP API's commands

main.add_command(serve)
main.add_command(apikeys)

from gatekeeper.analytics.commands import backtest, history, report  # noqa: E402 - analytics

main.add_command(report)
main.add_command(backtest)
main.add_command(history)

from gatekeeper.console.commands import register as _register_console  # noqa: E402

_register_console(main)  # console, users, audit (gatekeeper/console/commands.py)

if __name__ == "__main__":
    main()
