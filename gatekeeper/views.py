"""Operator views: a debtor's stored state and counters; the review topic as a table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gatekeeper.counters.keys import counters_key, state_key
from gatekeeper.counters.store import Store
from gatekeeper.debtor_view import describe_debtor, render_text
from gatekeeper.policy import load_policy
from gatekeeper.settings import Settings


async def show_debtor(settings: Settings, debtor_id: str) -> str:
    policy = load_policy(settings.policy)  # names the rules behind the counters
    store = Store.from_url(settings.redis)
    try:
        state_fields, counters = await store.read([("HGETALL", state_key(debtor_id)),
                                                   ("HGETALL", counters_key(debtor_id))])
    finally:
        await store.close()
    return render_text(describe_debtor(debtor_id, state_fields, counters, policy))


def review_row(value: bytes) -> str:
    body = orjson.loads(value)
    request: dict[str, Any] = body.get("request", {})
    decision: dict[str, Any] = body.get("decision", {})
    reasons = decision.get("reasons") or [{}]
    first = reasons[0]
    more = f" (+{len(reasons) - 1})" if len(reasons) > 1 else ""
    return (f"{decision.get('evaluated_at', ''):<22} {str(request.get('debtor_id', ''))[:16]:<16} "
            f"{str(request.get('channel', '')):<7} {str(first.get('rule', ''))[:34]:<34} "
            f"{str(first.get('message', ''))[:48]:<48}{more} {decision.get('retry_at') or '-'}")


HEADER = (f"{'time':<22} {'debtor':<16} {'channel':<7} {'rule':<34} {'message':<48} retry_at")


async def tail_review(settings: Settings, from_beginning: bool, limit: int,
                      echo: Callable[[str], None]) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.topics["review"], bootstrap_servers=settings.broker.removeprefix("kafka://"),
        auto_offset_reset="earliest" if from_beginning else "latest", enable_auto_commit=False,
        group_id=None)
    await consumer.start()
    echo(HEADER)
    shown = 0
    try:
        async for message in consumer:
            try:
                echo(review_row(message.value))
            except (orjson.JSONDecodeError, AttributeError, TypeError):
                echo(f"(unreadable message at offset {message.offset})")
            shown += 1
            if limit and shown >= limit:
                break
    finally:
        await consumer.stop()
