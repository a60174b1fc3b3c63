"""``gatekeeper serve`` and ``gatekeeper apikeys``: parse, configure logging, call the library."""

from __future__ import annotations

import asyncio
import logging

import click
import uvloop

from gatekeeper.errors import GatekeeperError
from gatekeeper.http.auth import KeyFile
from gatekeeper.http.settings import HttpSettings
from gatekeeper.settings import Settings


def _http_settings(bind: str | None = None, keys_dir: str | None = None) -> HttpSettings:
    try:
        return HttpSettings.from_env(bind=bind, api_keys_dir=keys_dir)
    except GatekeeperError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.option("--bind", help="HOST:PORT to listen on [GATEKEEPER_HTTP, 127.0.0.1:8080]")
@click.option("--broker", help="Kafka bootstrap [GATEKEEPER_BROKER]")
@click.option("--redis", "redis_url", help="Redis URL [GATEKEEPER_REDIS]")
@click.option("--policy", help="comma-separated packs or files [GATEKEEPER_POLICY]")
@click.option("--topic-prefix", help="prefix of every topic [GATEKEEPER_TOPIC_PREFIX]")
@click.option("--app-id", help="the worker's app id, whose applied events the catch-up "
                               "starts from [GATEKEEPER_APP_ID]")
@click.option("--keys-dir", help="directory of api-keys.json [GATEKEEPER_API_KEYS_DIR]")
@click.option("--loglevel", default="warning", show_default=True)
def serve(bind: str | None, broker: str | None, redis_url: str | None, policy: str | None,
          topic_prefix: str | None, app_id: str | None, keys_dir: str | None,
          loglevel: str) -> None:
    """Run the pre-dial HTTP API (POST /v1/check and the rest; see GET /openapi.json)."""
    from gatekeeper.http.server import serve as run
    from gatekeeper.wiring import require_keys

    logging.basicConfig(level=loglevel.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(broker=broker, redis=redis_url, policy=policy,
                                 topic_prefix=topic_prefix, app_id=app_id)
    http = _http_settings(bind, keys_dir)
    require_keys(settings, "gatekeeper serve", signing=False)
    try:
        # uvloop (libuv, MagicStack): the event loop and socket writes in C, measurably less
        # CPU per check than asyncio's own loop (benchmarks/README.md, "HTTP API")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run(settings, http))
    except GatekeeperError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # the address is taken, or Kafka cannot be reached
        raise click.ClickException(f"gatekeeper serve: {exc}") from exc


@click.group()
def apikeys() -> None:
    """API keys of the HTTP API (stored hashed in GATEKEEPER_API_KEYS_DIR)."""


def _keys(keys_dir: str | None) -> KeyFile:
    return KeyFile(_http_settings(keys_dir=keys_dir).api_keys_dir)


KEYS_DIR = click.option("--keys-dir", help="directory of api-keys.json "
                                           "[GATEKEEPER_API_KEYS_DIR]")


@apikeys.command("add")
@click.argument("name")
@KEYS_DIR
def apikeys_add(name: str, keys_dir: str | None) -> None:
    """Create a key for NAME; print it once (only its hash is stored)."""
    keys = _keys(keys_dir)
    try:
        entry, key = keys.add(name)
    except GatekeeperError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(key)
    click.echo(f"key {entry.id} for {entry.name} added to {keys.path}; it is shown only "
               "now: keep it in the dialer's secrets", err=True)


@apikeys.command("list")
@KEYS_DIR
def apikeys_list(keys_dir: str | None) -> None:
    """The keys: id, name, created, revoked (never the keys themselves)."""
    keys = _keys(keys_dir)
    try:
        entries = keys.load()
    except GatekeeperError as exc:
        raise click.ClickException(str(exc)) from exc
    if not entries:
        click.echo(f"no API keys in {keys.path}", err=True)
        return
    click.echo(f"{'id':<9} {'name':<24} {'created':<21} revoked")
    for k in entries:
        click.echo(f"{k.id:<9} {k.name:<24} {k.created_at:<21} {k.revoked_at or '-'}")


@apikeys.command("revoke")
@click.argument("name_or_id")
@KEYS_DIR
def apikeys_revoke(name_or_id: str, keys_dir: str | None) -> None:
    """Revoke the key with this id, or every active key with this name."""
    keys = _keys(keys_dir)
    try:
        revoked = keys.revoke(name_or_id)
    except GatekeeperError as exc:
        raise click.ClickException(str(exc)) from exc
    for k in revoked:
        click.echo(f"revoked {k.id} ({k.name}); a running server refuses it within a second")
