"""A passthrough built like the hot path (``create_app`` with the aiokafka request loop), for
benchmarks: the same faust app with its control agents in ``<app id>.control`` (here they
read events and outcomes and drop them) and the same request loop (``stream/hotloop.py``:
consumer, producer, decisions overlapped with acknowledgements, commits in batch order), but
no checks: every request's original bytes (and key) go to ``contact.allowed``. It measures
what the hot path's Kafka side costs without gatekeeper's work; the benchmark reports it
beside the faust passthrough and the plain aiokafka loop.

    python -m gatekeeper.stream.hot_passthrough     # settings from GATEKEEPER_* as the worker
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, cast

import faust

from gatekeeper.memory import Keeper
from gatekeeper.settings import Settings
from gatekeeper.stream.app import control_group, faust_app
from gatekeeper.stream.hotloop import RequestLoop
from gatekeeper.stream.routing import Incoming, Outgoing
from gatekeeper.stream.runner import Failures

log = logging.getLogger("gatekeeper.passthrough")


class _Trusted:
    """No store to lose: the runner never needs to wait for one."""

    async def ensure(self) -> None:
        return None


async def _forward(batch: Sequence[Incoming]) -> list[Outgoing]:
    return [Outgoing("allowed", m.key, m.value or b"") for m in batch]


def create_hot_passthrough_app(settings: Settings) -> faust.App:
    app, topics = faust_app(settings, control_group(settings))
    app.service(RequestLoop(  # type: ignore[arg-type] # an instance is started as is
        broker=settings.broker, group=settings.app_id, topic=settings.topics["requests"],
        topics=settings.topics, decide=_forward, keeper=cast(Keeper, _Trusted()),
        failures=Failures(), batch_size=settings.batch_size, within=settings.batch_within,
        read_ahead=settings.read_ahead, commit_every=settings.commit_interval,
        beacon=app.beacon))

    for kind in ("events", "outcomes"):
        async def drop(stream: Any) -> None:
            async for _events in stream.take_events(settings.batch_size,
                                                    within=settings.batch_within):
                pass

        app.agent(topics[kind], name=f"passthrough.{kind}", concurrency=1)(drop)

    @app.task  # type: ignore[untyped-decorator]
    async def ready() -> None:
        log.info("hot passthrough ready: topics %s", ", ".join(settings.topics.values()))

    return app


def main() -> None:
    from gatekeeper.topics import ensure_topics

    settings = Settings.from_env()
    app = create_hot_passthrough_app(settings)
    asyncio.run(ensure_topics(settings))
    faust.Worker(app, loglevel="info", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
