"""The Redis side: run the Lua scripts for a batch of plans in one pipelined round trip.

Scripts are loaded once (``SCRIPT LOAD``) and called by SHA. After a Redis restart the
cache is empty and EVALSHA answers NOSCRIPT: such a command did not run, so it is safe to
load the script and send it again; a command that may have run is never sent twice.
Connection failures and timeouts raise ``StoreUnavailable``: the caller pauses and retries.

Every script that writes runs only against a store whose memory is verified (see
``guard.py``): the store appends to each call the marker key of the debtor's slot for the
verified ``epoch``, and the script refuses to write when the marker is gone (``{"lost"}``).
Every pipeline also asks each node for its run id: a node that restarted or failed over
since the store was verified may hold an older copy, so its answers are thrown away.
Either case raises ``StoreLost``; nothing decided from the lost copy leaves the gate.

Pipelines go through ``pipeline.py``: packed in C, one connection each; on a Redis Cluster
one pipeline per node owning a slot of the batch, concurrently, each opening with the run-id
probe of its node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gatekeeper.counters import pipeline
from gatekeeper.counters.contract import writing_epoch
from gatekeeper.counters.keys import LOCK_KEY, META_KEY, PREFIX, marker_for
from gatekeeper.counters.wire import LOST, Call
from gatekeeper.errors import StoreLost, StoreUnavailable
from gatekeeper.redis_security import redis_options
from gatekeeper.redis_url import cluster_url

# Redis does not answer: a connection refused or dropped, a timeout, or no node of a cluster
# reachable (a cluster client that cannot start says so with RedisClusterException)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, RedisClusterException, OSError)

SCRIPTS = ("decide", "apply_state", "settle", "restore", "schedule")
_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _script_source(name: str) -> str:
    return resources.files("gatekeeper.counters").joinpath(f"lua/{name}.lua").read_text()


class Store:
    """A pipelined runner of gatekeeper's scripts and reads against one Redis."""

    def __init__(self, client: aioredis.Redis | Any, *, cluster: bool = False,
                 timeout: float = 5.0):
        self.client: Any = client  # redis.asyncio.Redis, or RedisCluster when ``cluster``
        self.cluster = cluster
        self.timeout = timeout  # one pipeline, written and read back
        self.sources = {name: _script_source(name) for name in SCRIPTS}
        self.shas: dict[str, str] = {}
        self.round_trips = 0  # pipelines (a cluster's concurrent per-node ones count once)
        self.node_pipelines = 0  # pipelines per node
        self.epoch: str | None = None  # the verified epoch (guard.py); None: hold
        self.identity: dict[str, str] = {}  # node -> run id when the epoch was verified

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 5.0) -> Store:
        seed = cluster_url(url)
        if seed is not None:
            from redis.asyncio.cluster import RedisCluster

            cluster_client = RedisCluster.from_url(
                seed,
                decode_responses=True, socket_timeout=timeout,
                socket_connect_timeout=timeout, **redis_options(url),
            )
            return cls(cluster_client, cluster=True, timeout=timeout)
        client = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout,
            socket_connect_timeout=timeout, health_check_interval=0, **redis_options(url),
        )
        return cls(client, timeout=timeout)

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"redis unreachable: {exc}") from exc

    async def load_scripts(self) -> None:
        try:
            for name, source in self.sources.items():
                # (on a cluster, SCRIPT LOAD goes to every primary)
                self.shas[name] = await self.client.script_load(source)
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"redis unreachable: {exc}") from exc

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        """Run script calls in one pipeline, in order; reload scripts on NOSCRIPT."""
        if not calls:
            return []
        epoch = writing_epoch(self)
        if epoch is None:
            raise StoreLost("the store's memory is not verified yet (or is being rebuilt)")
        if not self.shas:
            await self.load_scripts()
        results: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for _attempt in range(3):
            commands = [("EVALSHA", self.shas[calls[i].script], len(calls[i].keys) + 1,
                         *calls[i].keys, marker_for(calls[i].keys[0], epoch,
                                                    cluster=self.cluster), *calls[i].args)
                        for i in pending]
            answers = await self._guarded_pipeline(commands,
                                                   [calls[i].keys[0] for i in pending])
            retry = []
            for index, answer in zip(pending, answers, strict=True):
                if isinstance(answer, NoScriptError) or (
                    isinstance(answer, ResponseError) and "NOSCRIPT" in str(answer)
                ):
                    retry.append(index)
                elif isinstance(answer, Exception):
                    raise StoreUnavailable(f"redis error: {answer}") from answer
                elif answer == LOST:
                    self.epoch = None
                    raise StoreLost("a memory marker is missing: Redis lost data or is being "
                                    "rebuilt")
                else:
                    results[index] = answer
            if not retry:
                return results
            await self.load_scripts()
            pending = retry
        raise StoreUnavailable("redis keeps losing its script cache")

    async def _guarded_pipeline(self, commands: Sequence[tuple[Any, ...]],
                                keys: Sequence[str]) -> list[Any]:
        """The commands, each node that runs some of them checked against the verified
        identity by a run-id probe on the same connection, ahead of its commands (a restart
        in between breaks the connection)."""
        if self.cluster:
            answers, probes = await self._per_node(commands, keys, probe=True)
            for name, info in probes.items():
                if isinstance(info, Exception):
                    raise StoreUnavailable(f"redis error: {info}") from info
                if self.identity.get(name) != _run_id(info):
                    self._lost_identity()
            return answers
        answers = await self._pipeline([pipeline.PROBE, *commands])
        info = answers[0]
        if isinstance(info, Exception):
            raise StoreUnavailable(f"redis error: {info}") from info
        self._check_identity({"redis": _run_id(info)})
        return answers[1:]

    def _check_identity(self, ids: dict[str, str]) -> None:
        if ids != self.identity:
            self._lost_identity()

    def _lost_identity(self) -> None:
        self.epoch = None
        raise StoreLost("a Redis node restarted or failed over since the store was "
                            "verified (its run id changed): its copy may be older")

    async def node_ids(self) -> dict[str, str]:
        """Each primary node's run id (it changes with every restart and failover)."""
        try:
            if not self.cluster:
                return {"redis": _run_id(await self.client.info("server"))}
            ids = {}
            for node in self.client.get_primaries():
                info = await self.client.info("server", target_nodes=node)
                ids[node.name] = _run_id(info)
            return ids
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"redis unreachable: {exc}") from exc
        except RedisError as exc:
            raise StoreUnavailable(f"redis not ready: {exc}") from exc

    # ----------------------------------------------------------------- memory primitives
    # What counters/guard.py needs to notice a loss and mark a rebuilt copy (plain commands,
    # not through the guarded pipeline).

    async def meta(self) -> dict[str, str]:
        return dict(await self._plain("HGETALL", META_KEY) or {})

    async def write_meta(self, mapping: dict[str, str]) -> None:
        await self._plain("HSET", META_KEY, *[x for item in mapping.items() for x in item])

    async def drop_meta(self) -> None:
        await self._plain("DEL", META_KEY)

    async def exists(self, key: str) -> bool:
        return bool(await self._plain("EXISTS", key))

    async def set_keys(self, keys: Sequence[str]) -> None:
        """Create each key (value "1", no expiry)."""
        await self._plain_many([("SET", key, "1") for key in keys])

    async def delete_keys(self, keys: Sequence[str]) -> int:
        if self.cluster:  # keys of many slots: one UNLINK each, grouped per node
            return sum(int(n) for n in await self._plain_many([("UNLINK", k) for k in keys]))
        deleted = 0
        for at in range(0, len(keys), 1000):
            deleted += int(await self._plain("UNLINK", *keys[at:at + 1000]))
        return deleted

    async def scan_keys(self) -> AsyncIterator[str]:
        """Every key of the gatekeeper (``gk:*``), on every node."""
        try:
            async for key in self.client.scan_iter(match=PREFIX + "*", count=1000):
                yield key
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"redis unreachable: {exc}") from exc

    async def acquire_lock(self, owner: str, seconds: int) -> bool:
        return bool(await self._plain("SET", LOCK_KEY, owner, "NX", "EX", seconds))

    async def refresh_lock(self, owner: str, seconds: int) -> bool:
        return bool(await self._plain("EVAL", _REFRESH, 1, LOCK_KEY, owner, seconds))

    async def release_lock(self, owner: str) -> None:
        await self._plain("EVAL", _RELEASE, 1, LOCK_KEY, owner)

    async def _plain(self, *command: Any) -> Any:
        try:
            return await self.client.execute_command(*command)
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"redis unreachable: {exc}") from exc
        except RedisError as exc:
            raise StoreUnavailable(f"redis error: {exc}") from exc

    async def _plain_many(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Plain commands, pipelined (per node on a cluster: redis-py's cluster pipeline
        takes plain commands, not scripts)."""
        answers: list[Any] = []
        try:
            for at in range(0, len(commands), 2000):
                pipe = self.client.pipeline() if self.cluster else \
                    self.client.pipeline(transaction=False)
                for command in commands[at:at + 2000]:
                    pipe.execute_command(*command)
                answers += await pipe.execute()
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"redis unreachable: {exc}") from exc
        except RedisError as exc:
            raise StoreUnavailable(f"redis error: {exc}") from exc
        return answers

    async def read(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Plain read commands (HGETALL, HGET...) in one pipeline."""
        answers = await self._pipeline(commands)
        for answer in answers:
            if isinstance(answer, Exception):
                raise StoreUnavailable(f"redis error: {answer}") from answer
        return answers

    async def _pipeline(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """One pipeline (a cluster's plain reads: one per node; their keys are the first
        argument after the command name)."""
        if self.cluster:
            answers, _ = await self._per_node(commands, [c[1] for c in commands])
            return answers
        self.round_trips += 1
        self.node_pipelines += 1
        try:
            return await pipeline.single(self.client, commands, self.timeout)
        except TimeoutError as exc:
            raise self._timed_out(len(commands)) from exc
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"redis unreachable: {exc}") from exc
        except RedisError as exc:
            raise StoreUnavailable(f"redis error: {exc}") from exc

    async def _per_node(self, commands: Sequence[tuple[Any, ...]], keys: Sequence[str],
                        probe: bool = False) -> tuple[list[Any], dict[str, Any]]:
        self.round_trips += 1
        try:
            answers, probes = await pipeline.per_node(self.client, commands, keys,
                                                      self.timeout, probe)
        except TimeoutError as exc:
            raise self._timed_out(len(commands)) from exc
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"redis unreachable: {exc}") from exc
        except RedisError as exc:
            raise StoreUnavailable(f"redis error: {exc}") from exc
        self.node_pipelines += len(probes)
        return answers, probes

    def _timed_out(self, commands: int) -> StoreUnavailable:
        return StoreUnavailable(f"redis did not answer a pipeline of {commands} commands "
                                f"within {self.timeout:g} s (paused, overloaded or gone)")


def _run_id(info: Any) -> str:
    if isinstance(info, dict):
        if "run_id" in info:
            return str(info["run_id"])
        for value in info.values():  # a cluster client may answer per node
            if isinstance(value, dict) and "run_id" in value:
                return str(value["run_id"])
    if isinstance(info, str):
        for line in info.splitlines():
            if line.startswith("run_id:"):
                return line.split(":", 1)[1].strip()
    raise StoreUnavailable(f"redis INFO gave no run id: {str(info)[:80]}")
