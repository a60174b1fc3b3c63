"""The Redis side: run the Lua scripts for a batch of plans in one pipelined round trip.

Scripts are loaded once (``SCRIPT LOAD``) and called by SHA. After a Redis restart the
cache is empty and EVALSHA answers NOSCRIPT: such a command did not run, so it is safe to
load the script and send it again; a command that may have run is never sent twice.
Connection failures and timeouts raise ``StoreUnavailable``: the caller pauses and retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gatekeeper.errors import StoreUnavailable

SCRIPTS = ("decide", "apply_state", "settle")


def _script_source(name: str) -> str:
    return resources.files("gatekeeper.counters").joinpath(f"lua/{name}.lua").read_text()


@dataclass(frozen=True, slots=True)
class Call:
    """One script call: which script, its keys and its arguments."""

    script: str
    keys: Sequence[str]
    args: Sequence[Any]


class Store:
    """A pipelined runner of gatekeeper's scripts and reads against one Redis."""

    def __init__(self, client: aioredis.Redis | Any, *, cluster: bool = False):
        self.client: Any = client  # redis.asyncio.Redis, or RedisCluster when ``cluster``
        self.cluster = cluster
        self.sources = {name: _script_source(name) for name in SCRIPTS}
        self.shas: dict[str, str] = {}
        self.round_trips = 0

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 5.0) -> Store:
        if url.startswith("redis+cluster://"):
            from redis.asyncio.cluster import RedisCluster

            cluster_client = RedisCluster.from_url(
                "redis://" + url.removeprefix("redis+cluster://"),
                decode_responses=True, socket_timeout=timeout,
                socket_connect_timeout=timeout,
            )
            return cls(cluster_client, cluster=True)
        client = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout,
            socket_connect_timeout=timeout, health_check_interval=0,
        )
        return cls(client)

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(f"redis unreachable: {exc}") from exc

    async def load_scripts(self) -> None:
        try:
            for name, source in self.sources.items():
                # (on a cluster, SCRIPT LOAD goes to every primary)
                self.shas[name] = await self.client.script_load(source)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(f"redis unreachable: {exc}") from exc

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        """Run script calls in one pipeline, in order; reload scripts on NOSCRIPT."""
        if not calls:
            return []
        if not self.shas:
            await self.load_scripts()
        results: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for _attempt in range(3):
            answers = await self._pipeline(
                [("EVALSHA", self.shas[calls[i].script], len(calls[i].keys),
                  *calls[i].keys, *calls[i].args) for i in pending])
            retry = []
            for index, answer in zip(pending, answers, strict=True):
                if isinstance(answer, NoScriptError) or (
                    isinstance(answer, ResponseError) and "NOSCRIPT" in str(answer)
                ):
                    retry.append(index)
                elif isinstance(answer, Exception):
                    raise StoreUnavailable(f"redis error: {answer}") from answer
                else:
                    results[index] = answer
            if not retry:
                return results
            await self.load_scripts()
            pending = retry
        raise StoreUnavailable("redis keeps losing its script cache")

    async def read(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Plain read commands (HGETALL, HGET...) in one pipeline."""
        answers = await self._pipeline(commands)
        for answer in answers:
            if isinstance(answer, Exception):
                raise StoreUnavailable(f"redis error: {answer}") from answer
        return answers

    async def _pipeline(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        self.round_trips += 1
        try:
            if self.cluster:
                return await self._cluster_pipeline(commands)
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            answers: list[Any] = await pipe.execute(raise_on_error=False)
            return answers
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(f"redis unreachable: {exc}") from exc
        except RedisError as exc:
            if "LOADING" in str(exc) or "BUSY" in str(exc):
                raise StoreUnavailable(f"redis not ready: {exc}") from exc
            raise

    async def _cluster_pipeline(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        # redis-py's cluster pipeline does not take scripts: send the calls one by one;
        # each still runs atomically on the node that owns the debtor's slot.
        answers: list[Any] = []
        for command in commands:
            try:
                answers.append(await self.client.execute_command(*command))
            except ResponseError as exc:
                answers.append(exc)
        return answers
