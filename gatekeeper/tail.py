"""Operator views of the output topics: ``review tail`` and ``invalid tail`` as tables.

Rows are formatted by pure functions (the demo prints review rows too); ``tail`` follows
one topic with a plain aiokafka consumer (no consumer group, nothing committed) and gives
up with ``BrokerUnavailable`` when the broker does not answer within the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import orjson

from gatekeeper.access_errors import connect_problem, unseen_topic_hint
from gatekeeper.errors import BrokerUnavailable, GatekeeperError
from gatekeeper.kafka_security import kafka_options
from gatekeeper.timeutil import format_utc, from_epoch

TIME = 24  # 2026-11-28T12:33:22.864Z
REVIEW_HEADER = (f"{'time':<{TIME}} {'debtor':<16} {'channel':<7} {'rule':<34} "
                 f"{'message':<48} retry_at")
SOURCE = 34  # contact.requests[11]@123456789, or ~<end of a prefixed topic>[p]@offset
INVALID_HEADER = f"{'time':<{TIME}} {'source':<{SOURCE}} {'field':<24} {'message':<50} raw"


def review_row(value: bytes) -> str:
    body = orjson.loads(value)
    request: dict[str, Any] = body.get("request", {})
    decision: dict[str, Any] = body.get("decision", {})
    reasons = decision.get("reasons") or [{}]
    first = reasons[0]
    more = f" (+{len(reasons) - 1})" if len(reasons) > 1 else ""  # more reasons than shown
    message = str(first.get("message", ""))[:48 - len(more)] + more
    return (f"{decision.get('evaluated_at', ''):<{TIME}} "
            f"{str(request.get('debtor_id', ''))[:16]:<16} "
            f"{str(request.get('channel', '')):<7} {str(first.get('rule', ''))[:34]:<34} "
            f"{message:<48} {decision.get('retry_at') or '-'}")


def invalid_row(value: bytes, timestamp_ms: int | None) -> str:
    """A dead letter: when, where it came from, which field, why, and the start of the raw
    value (one line, control characters escaped)."""
    body = orjson.loads(value)
    error: dict[str, Any] = body.get("error") or {}
    source: dict[str, Any] = body.get("source") or {}
    place = f"[{source.get('partition', '?')}]@{source.get('offset', '?')}"
    topic = str(source.get("topic", "?"))
    room = SOURCE - len(place)
    where = (topic if len(topic) <= room else "~" + topic[len(topic) - room + 1:]) + place
    raw = body.get("raw")
    shown = "-" if raw is None else repr(str(raw))[1:-1]
    if len(shown) > 60:
        shown = shown[:57] + "..."
    when = format_utc(from_epoch(timestamp_ms / 1000)) if timestamp_ms else ""
    return (f"{when:<{TIME}} {where:<{SOURCE}} {str(error.get('field') or '-')[:24]:<24} "
            f"{str(error.get('message', ''))[:50]:<50} {shown}")


async def tail(bootstrap: str, topic: str, header: str, row: Callable[[Any], str], *,
               from_beginning: bool, limit: int, echo: Callable[[str], None],
               note: Callable[[str], None], what: str, variable: str,
               timeout: float = 10.0) -> int:
    """Follow ``topic`` (from its oldest message or from now on) and print a row per
    message, ``limit`` rows at most (0: until interrupted). ``note`` gets the status lines
    (standard error), ``echo`` the table; ``what`` names the rows in them and ``variable``
    the topic's setting (``REVIEW``). Returns the number of rows printed."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        request_timeout_ms=max(1000, int(timeout * 1000)), **kafka_options())
    try:
        await asyncio.wait_for(consumer.start(), timeout)
        topics = await asyncio.wait_for(consumer.topics(), timeout)
    except (TimeoutError, KafkaError, OSError) as exc:
        with contextlib.suppress(Exception):
            await consumer.stop()
        detail = (f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError)
                  else f"the connection failed ({type(exc).__name__})")
        refused = await connect_problem(bootstrap) if isinstance(exc, KafkaError) else None
        if refused is not None and not refused.startswith("nothing listens"):
            raise BrokerUnavailable(refused) from None
        raise BrokerUnavailable(f"cannot reach Kafka at {bootstrap}: {detail}; check --broker "
                                "/ GATEKEEPER_BROKER and that the broker is up") from None
    shown = 0
    try:
        if topic not in topics:
            raise GatekeeperError(f"no topic {topic!r} on {bootstrap}: check --topic-prefix "
                                  f"/ GATEKEEPER_TOPIC_PREFIX and GATEKEEPER_TOPIC_{variable} "
                                  "(the worker creates its topics when it starts)"
                                  + unseen_topic_hint())
        consumer.subscribe([topic])
        if from_beginning:
            note(f"{what} on {topic}, oldest first (Ctrl-C stops)")
        else:
            note(f"waiting for new {what} on {topic} (--from-beginning shows the earlier "
                 "ones; Ctrl-C stops)")
        echo(header)
        async for message in consumer:
            try:
                echo(row(message))
            except (orjson.JSONDecodeError, AttributeError, TypeError):
                echo(f"(unreadable message at partition {message.partition}, "
                     f"offset {message.offset})")
            shown += 1
            if limit and shown >= limit:
                break
    finally:
        await consumer.stop()
    return shown
