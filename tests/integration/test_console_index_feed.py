"""The console's index fed from real topics: rebuilt whole from them, and resumed without
doubling anything after a restart (the offsets live in the same transaction as the rows)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import kafka_helpers

from gatekeeper.console.index import QueueFilter
from gatekeeper.console.index.consumer import IndexFeeder
from gatekeeper.console.index.sample import Topics, traffic
from gatekeeper.console.index.sqlite import SqliteIndex
from gatekeeper.settings import Settings

DAY = 86_400_000


async def _feed(index: SqliteIndex, settings: Settings, until: int) -> IndexFeeder:
    """Run a feeder until the index holds ``until`` decisions (or 60 s), then stop it."""
    feeder = IndexFeeder(index, settings.broker, settings.topics, retention_days=400,
                         refresh=1.0)
    task = asyncio.create_task(feeder.run())
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if feeder.caught_up and feeder.totals.decisions >= until:
                break
            await asyncio.sleep(0.3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return feeder


async def test_the_index_is_rebuilt_from_the_topics_and_resumes_exactly(
        stack: Any, topic_prefix: str, create_topics: Any, tmp_path: Path) -> None:
    settings = Settings.from_env({"GATEKEEPER_BROKER": stack.broker_url,
                                  "GATEKEEPER_TOPIC_PREFIX": topic_prefix})
    names = Topics(**{kind: settings.topics[kind]
                      for kind in ("decisions", "review", "events", "outcomes")})
    await create_topics(*[settings.topics[k] for k in ("decisions", "review", "events",
                                                       "outcomes", "audit")], partitions=2)
    now = int(time.time() * 1000)
    messages = list(traffic(400, debtors=40, start_ms=now - DAY, end_ms=now, topics=names))
    by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
    for m in messages:
        by_topic.setdefault(m.topic, []).append((m.key, m.value or b""))
    for topic, values in by_topic.items():
        await kafka_helpers.produce(stack.bootstrap, topic, values)
    blocked = sum(1 for m in messages if m.kind == "review")

    first = SqliteIndex(tmp_path / "a.sqlite")
    feeder = await _feed(first, settings, 400)
    assert feeder.totals.decisions == 400 and feeder.totals.duplicates == blocked
    page = first.queue(QueueFilter(status="all"), limit=1000)
    assert len(page.items) == blocked
    assert first.overview(now - 2 * DAY, now + DAY).decisions == 400

    again = await _feed(first, settings, 0)  # a restart: nothing new, nothing twice
    assert again.totals.messages == 0
    assert first.overview(now - 2 * DAY, now + DAY).decisions == 400

    rebuilt = SqliteIndex(tmp_path / "b.sqlite")  # a deleted index, read again
    await _feed(rebuilt, settings, 400)
    assert [i.request_id for i in rebuilt.queue(QueueFilter(status="all"), limit=1000).items] \
        == [i.request_id for i in page.items]
    debtor = page.items[0].debtor_id
    assert [(t.what, t.ts) for t in rebuilt.timeline(debtor)] == \
        [(t.what, t.ts) for t in first.timeline(debtor)]
