"""Pipelines that carry a batch's commands to Redis: packed in C (``hiredis.pack_command``),
written in one go on one connection and read back in order under one deadline.

redis-py's asyncio pipeline packs every argument in Python (a decide call has ~25) and arms
a timer per reply; its cluster pipeline does not carry EVALSHA at all. Here:

    single   one connection of the client's pool: the commands, in order
    per_node on a Redis Cluster, the commands grouped by the node that owns their key's slot,
             one pipeline per node, all of them concurrently; each command keeps its place
             in the answer list

Every pipeline may open with a probe (``INFO server``) on the same connection as its
commands: a restart in between breaks the connection, so the run id read is the one of the
server that ran them. A command answered ``MOVED`` or ``ASK`` did not run; ``per_node``
refreshes the slot map and sends it again (a few times, then the error stands).

Replies are read in one go from the connection's hiredis reader when redis-py reads with
hiredis (it does whenever the package is installed: it is a dependency): one parse per
socket read instead of one awaited ``read_response`` per reply; any other parser is read
reply by reply.

Error answers (``ResponseError``) take their command's place in the answers; a connection
that fails, times out or is cancelled half-way is closed before it goes back to its pool
(its unread replies must never answer the next pipeline).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import hiredis
from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser
from redis.exceptions import AskError, MovedError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

Command = tuple[Any, ...]
PROBE: Command = ("INFO", "server")
REDIRECTS = 3


async def on_connection(connection: Any, commands: Sequence[Command], timeout: float
                        ) -> list[Any]:
    """Send ``commands`` on ``connection`` and read every reply; an error reply is returned
    in its place. The connection is closed if anything goes wrong half-way."""
    payload = [hiredis.pack_command(command) for command in commands]
    done = False
    try:
        async with asyncio.timeout(timeout):
            await connection.send_packed_command(payload, check_health=False)
            parser = getattr(connection, "_parser", None)
            if isinstance(parser, _AsyncHiredisParser):
                answers = await _read_all(parser, len(commands))
            else:
                answers = []
                for _ in commands:
                    try:
                        answers.append(await connection.read_response(timeout=math.inf))
                    except ResponseError as error:
                        answers.append(error)
        done = True
        return answers
    finally:
        if not done:
            await connection.disconnect()


async def _read_all(parser: Any, count: int) -> list[Any]:
    """``count`` replies from redis-py's hiredis parser: every reply already received is
    parsed before the socket is read again. Error replies come as ``ResponseError``
    values; a connection error (or a server that closed it) raises."""
    reader = parser._reader  # (redis-py's hiredis.Reader: decodes as the client does)
    answers: list[Any] = []
    while len(answers) < count:
        reply = reader.gets()
        if reply is NOT_ENOUGH_DATA:
            await parser.read_from_socket()
            continue
        if isinstance(reply, RedisConnectionError):
            raise reply
        answers.append(reply)
    return answers


async def single(client: Any, commands: Sequence[Command], timeout: float) -> list[Any]:
    """One pipeline on one connection of a plain (non-cluster) client."""
    pool = client.connection_pool
    connection = await pool.get_connection()
    try:
        return await on_connection(connection, commands, timeout)
    finally:
        await pool.release(connection)


async def per_node(cluster: Any, commands: Sequence[Command], keys: Sequence[str],
                   timeout: float, probe: bool = False) -> tuple[list[Any], dict[str, Any]]:
    """``commands[i]`` runs on the node owning ``keys[i]``'s slot; one pipeline per node,
    concurrently. Returns the answers in command order and, for each node sent to, its
    answer to ``INFO server`` read on the same connection as its commands (with ``probe``;
    None without)."""
    await cluster.initialize()  # no-op once the slot map is known
    answers: list[Any] = [None] * len(commands)
    probes: dict[str, Any] = {}
    pending = list(range(len(commands)))
    for attempt in range(REDIRECTS + 1):
        groups: dict[str, tuple[Any, list[int]]] = {}
        for index in pending:
            node = cluster.get_node_from_key(keys[index])
            groups.setdefault(node.name, (node, []))[1].append(index)
        results = await asyncio.gather(*(
            _on_node(node, [commands[i] for i in indices], timeout, probe)
            for node, indices in groups.values()))
        redirected: list[int] = []
        for (name, (_node, indices)), (info, node_answers) in zip(
                groups.items(), results, strict=True):
            probes[name] = info
            for index, answer in zip(indices, node_answers, strict=True):
                if isinstance(answer, AskError | MovedError) and attempt < REDIRECTS:
                    redirected.append(index)
                answers[index] = answer
        if not redirected:
            break
        await cluster.nodes_manager.initialize()  # the slot moved: learn where to
        pending = redirected
    return answers, probes


async def _on_node(node: Any, commands: list[Command], timeout: float, probe: bool
                   ) -> tuple[Any, list[Any]]:
    connection = node.acquire_connection()
    try:
        answers = await on_connection(connection, [PROBE, *commands] if probe else commands,
                                      timeout)
    finally:
        node.release(connection)
    return (answers[0], answers[1:]) if probe else (None, answers)
