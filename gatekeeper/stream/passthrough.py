"""A faust passthrough built like the worker (``create_app``), for benchmarks.

Same faust settings, the same raw topics, the same three agents with ``concurrency=1``
taking batches of ``GATEKEEPER_BATCH_SIZE`` within ``GATEKEEPER_BATCH_WITHIN``, and the same
"produce the batch, wait for every acknowledgement, then ack the batch" loop; but no
checks: every request's original bytes (and key) go to ``contact.allowed``,
and events and outcomes are read and dropped. It measures what faust + Kafka cost without
gatekeeper's work, on the same machine.

    python -m gatekeeper.stream.passthrough     # settings from GATEKEEPER_* as the worker

Keep the ``faust.App`` arguments in step with ``gatekeeper.stream.app.create_app``.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Any

import faust

from gatekeeper.settings import Settings

log = logging.getLogger("gatekeeper.passthrough")


def _raw_topic(app: faust.App, name: str) -> Any:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                     value_serializer="raw", allow_empty=True)


def create_passthrough_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        store="memory://",
        datadir=str(Path(tempfile.gettempdir()) / f"gatekeeper-{settings.app_id}"),
        autodiscover=False,
        web_enabled=False,
        topic_partitions=1,
        topic_replication_factor=1,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        broker_commit_interval=0.5,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=True,
        producer_linger_ms=1,
        producer_acks=-1,
        stream_buffer_maxsize=max(4096, settings.batch_size * 4),
    )
    topics = {name: _raw_topic(app, topic) for name, topic in settings.topics.items()}
    allowed = topics["allowed"]

    @app.agent(topics["requests"], concurrency=1)
    async def requests(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within):
            futures = [await allowed.send(key=e.message.key, value=e.message.value, force=True)
                       for e in events]
            await asyncio.gather(*futures)

    @app.agent(topics["events"], concurrency=1)
    async def debtor_events(stream: Any) -> None:
        async for _events in stream.take_events(settings.batch_size,
                                                within=settings.batch_within):
            pass

    @app.agent(topics["outcomes"], concurrency=1)
    async def outcomes(stream: Any) -> None:
        async for _events in stream.take_events(settings.batch_size,
                                                within=settings.batch_within):
            pass

    @app.task  # type: ignore[untyped-decorator]
    async def ready() -> None:
        log.info("passthrough ready: topics %s", ", ".join(settings.topics.values()))

    return app


def main() -> None:
    from gatekeeper.topics import ensure_topics

    settings = Settings.from_env()
    app = create_passthrough_app(settings)
    asyncio.run(ensure_topics(settings))
    faust.Worker(app, loglevel="info", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
