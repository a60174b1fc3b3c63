"""Options shared by several commands, and checks of command-line values run by click
before a command starts: a mistake is a usage error naming the flag, never a traceback
from the middle of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gatekeeper.errors import ConfigError
from gatekeeper.redis_url import check_redis_url


def redis_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_redis_url(value, "--redis")
    except ConfigError as exc:
        raise click.BadParameter(f"expected {exc.expected}, found {exc.found!r}") from None


def output_file_option(ctx: click.Context, param: click.Parameter, value: Path | None
                       ) -> Path | None:
    """A file to write: its folder must exist (checked before a long run, not after)."""
    if value is None:
        return None
    folder = value.parent
    if not folder.is_dir():
        raise click.BadParameter(f"folder {str(folder)!r} does not exist")
    return value


def tail_options(command: Any) -> Any:
    """The options shared by ``review tail`` and ``invalid tail``."""
    for option in reversed([
        click.option("--broker", help="Kafka bootstrap [GATEKEEPER_BROKER]"),
        click.option("--topic-prefix", help="[GATEKEEPER_TOPIC_PREFIX]"),
        click.option("--from-beginning", is_flag=True, help="start at the oldest message"),
        click.option("--limit", type=click.IntRange(min=0), default=0,
                     help="stop after this many rows (0: follow)"),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0,
                     show_default=True, help="seconds to wait for the broker to answer"),
    ]):
        command = option(command)
    return command
