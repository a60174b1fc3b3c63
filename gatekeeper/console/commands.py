"""The console's commands: ``gatekeeper console``, ``gatekeeper users``, ``gatekeeper audit``.
Registered on the main group by ``register`` (cli.py stays small)."""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import replace

import click

from gatekeeper.console.config import ConsoleSettings
from gatekeeper.settings import Settings


@click.command("console")
@click.option("--bind", "host", help="address to serve on [GATEKEEPER_CONSOLE_HOST, 127.0.0.1]")
@click.option("--port", type=int, help="port [GATEKEEPER_CONSOLE_PORT, 8088]")
@click.option("--dir", "directory", help="where the index and the accounts live "
                                          "[GATEKEEPER_CONSOLE_DIR, .console]")
@click.option("--rebuild", is_flag=True, help="delete the index first: it is read again from "
                                              "the topics")
@click.option("--loglevel", default="info", show_default=True)
def console(host: str | None, port: int | None, directory: str | None, rebuild: bool,
            loglevel: str) -> None:
    """Serve the review console alone, under /console/ (gatekeeper serve mounts the same
    application). Broker, Redis, policy, topics and keys as for the worker."""
    from aiohttp import web

    from gatekeeper.brokers import bootstrap
    from gatekeeper.console.serving import attach_console
    from gatekeeper.http.tls import with_tls

    logging.basicConfig(level=loglevel.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)  # one line per assignment else
    settings = Settings.from_env()
    options = ConsoleSettings.from_env(host=host, port=port, directory=directory)
    bootstrap(settings.broker)  # a broken broker URL is a message
    if rebuild:
        for suffix in ("", "-wal", "-shm"):
            path = options.index_path.with_name(options.index_path.name + suffix)
            path.unlink(missing_ok=True)
        click.echo(f"index {options.index_path} removed: it is rebuilt from the topics",
                   err=True)
    if not settings.signing_keys:
        click.echo("note: GATEKEEPER_SIGNING_KEY is not set: releases are refused (a released "
                   "request is signed like the worker signs)", err=True)
    root = web.Application()
    attach_console(root, settings, replace(options, enabled=True))
    tls = with_tls(root)  # GATEKEEPER_HTTP_TLS_CERT / _KEY: https, HSTS, Secure cookies
    click.echo(f"console: {'https' if tls else 'http'}://{options.host}:{options.port}"
               "/console/", err=True)
    try:
        web.run_app(root, host=options.host, port=options.port, print=None,
                    access_log=None, ssl_context=tls)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {options.host}:{options.port}: "
                                   f"{exc.strerror or exc} (--bind / GATEKEEPER_CONSOLE_HOST, "
                                   "--port / GATEKEEPER_CONSOLE_PORT)") from exc


@click.group("users")
def users() -> None:
    """Console accounts."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["viewer", "reviewer", "admin"]),
              help="viewer reads; reviewer also releases and acknowledges; admin also "
                   "manages accounts")
@click.option("--dir", "directory", help="[GATEKEEPER_CONSOLE_DIR, .console]")
def users_add(name: str, role: str, directory: str | None) -> None:
    """Add an account; its password is read from standard input (asked twice on a
    terminal). Stored as an Argon2id hash; the change goes to the audit trail."""
    from gatekeeper.console.accounts import AccountError, Accounts

    stdin = click.get_text_stream("stdin")
    if stdin.isatty():
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        password = stdin.readline().rstrip("\r\n")
    options = ConsoleSettings.from_env(directory=directory)
    accounts = Accounts(options.accounts_path, options)
    try:
        account = accounts.add(name, role, password, actor="cli")
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        accounts.close()
    click.echo(f"account {account.name} added ({account.role}) in {options.accounts_path}")


@users.command("list")
@click.option("--dir", "directory", help="[GATEKEEPER_CONSOLE_DIR, .console]")
def users_list(directory: str | None) -> None:
    """The accounts: name, role, state."""
    from gatekeeper.console.accounts import Accounts

    options = ConsoleSettings.from_env(directory=directory)
    accounts = Accounts(options.accounts_path, options)
    for account in accounts.all():
        state = "disabled" if account.disabled else "active"
        click.echo(f"{account.name:<24} {account.role:<9} {state}")
    accounts.close()


@click.group("audit")
def audit() -> None:
    """The console's audit trail."""


@audit.command("verify")
@click.option("--broker", help="Kafka bootstrap [GATEKEEPER_BROKER]")
@click.option("--topic-prefix", help="[GATEKEEPER_TOPIC_PREFIX]")
def audit_verify(broker: str | None, topic_prefix: str | None) -> None:
    """Check the hash chain on the audit topic (exit 0); name the first broken link (exit 1)."""
    from aiokafka.errors import KafkaError

    from gatekeeper.console.audit_topic import verify_topic

    settings = Settings.from_env(broker=broker, topic_prefix=topic_prefix)
    topic = settings.topics["audit"]
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    try:
        verdict = asyncio.run(verify_topic(settings.broker, topic))
    except LookupError:
        raise click.ClickException(f"no audit topic {topic!r} on {settings.broker} (the "
                                   "console creates it; GATEKEEPER_TOPIC_AUDIT names "
                                   "another)") from None
    except (KafkaError, OSError, TimeoutError) as exc:
        raise click.ClickException(f"cannot read {topic} from Kafka at {settings.broker} "
                                   f"({type(exc).__name__}); check --broker / "
                                   "GATEKEEPER_BROKER") from exc
    if verdict.ok:
        click.echo(f"ok: {verdict.records} records, chain intact, head {verdict.head[:16]}")
        return
    click.echo(f"BROKEN at {verdict.where}: {verdict.problem}; the {verdict.records} records "
               f"before it are intact (head {verdict.head[:16]})")
    sys.exit(1)


def register(main: click.Group) -> None:
    for command in (console, users, audit):
        main.add_command(command)
