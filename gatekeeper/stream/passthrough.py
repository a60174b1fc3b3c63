"""A faust passthrough built like the worker (``create_app``), for benchmarks.

Same faust settings, the same raw topics, the same three agents with ``concurrency=1``
taking batches of ``GATEKEEPER_BATCH_SIZE`` within ``GATEKEEPER_BATCH_WITHIN``, and the same
"produce the batch, wait for every acknowledgement, then ack the batch" loop; but no
checks: every request's original bytes (and key) go to ``contact.allowed``,
and events and outcomes are read and dropped. It measures what faust + Kafka cost without
gatekeeper's work, on the same machine.

    python -m gatekeeper.stream.passthrough     # settings from GATEKEEPER_* as the worker

The app and topics come from ``gatekeeper.stream.app.faust_app``, as the worker's do.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from gatekeeper.settings import Settings
from gatekeeper.stream.app import faust_app

log = logging.getLogger("gatekeeper.passthrough")


def create_passthrough_app(settings: Settings) -> faust.App:
    app, topics = faust_app(settings)
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
