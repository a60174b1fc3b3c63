"""Operator views: a debtor's stored state and counters; the review topic as a table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gatekeeper.brokers import bootstrap
from gatekeeper.counters.keys import counters_key, state_key
from gatekeeper.counters.store import Store
from gatekeeper.settings import Settings
from gatekeeper.state import state_from_hash
from gatekeeper.timeutil import format_utc, from_epoch


async def show_debtor(settings: Settings, debtor_id: str) -> str:
    store = Store.from_url(settings.redis)
    try:
        state_fields, counters = await store.read([("HGETALL", state_key(debtor_id)),
                                                   ("HGETALL", counters_key(debtor_id))])
    finally:
        await store.close()
    state = state_from_hash(state_fields)
    profile = state.profile
    lines = [f"debtor {debtor_id}  (state version {state.version})",
             f"  region {profile.region or '-'}  timezone {profile.timezone or '-'}  "
             f"days past due {profile.days_past_due if profile.days_past_due is not None else '-'}"
             f"  hardship {'yes' if profile.hardship else 'no'}",
             f"  status: {', '.join(sorted(state.flags)) or 'none'}",
             f"  opt-outs: {', '.join(sorted(state.opt_outs)) or 'none'}"]
    for debt, seconds in state.conversations:
        lines.append(f"  conversation about {debt}: {format_utc(from_epoch(seconds))}")
    for scope, seconds in state.consents:
        lines.append(f"  consent {scope} until {format_utc(from_epoch(seconds))}")
    if state.inconvenient:
        lines.append("  inconvenient: " + ", ".join(f"{w.start}-{w.end}" for w in
                                                     state.inconvenient))
    lines.append("  counters (rule|scope|period = count):" if counters else "  counters: none")
    records = 0
    for name in sorted(counters):
        if name == "last":
            lines.append(f"    last contact = {format_utc(from_epoch(float(counters[name])))}")
        elif "|" in name:
            lines.append(f"    {name} = {counters[name]}")
        elif name.startswith("r"):
            records += 1
    lines.append(f"  decisions on record (for replays and outcomes): {records}")
    return "\n".join(lines)


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
        settings.topics["review"], bootstrap_servers=bootstrap(settings.broker),
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
