"""``counters/pipeline.py`` without Redis: a fake connection answers, so what happens to
error replies, a read that fails half-way and a pipeline that takes too long can be seen."""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from gatekeeper.counters import pipeline


class Connection:
    def __init__(self, replies: list[Any], delay: float = 0.0):
        self.replies = replies
        self.delay = delay
        self.written: list[bytes] = []
        self.disconnected = False

    async def send_packed_command(self, payload: list[bytes], check_health: bool) -> None:
        self.written += payload

    async def read_response(self, timeout: float) -> Any:
        await asyncio.sleep(self.delay)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def disconnect(self) -> None:
        self.disconnected = True


def test_commands_are_packed_once_and_error_replies_keep_their_place() -> None:
    connection = Connection(["run_id:x", NoScriptError("NOSCRIPT no script"), ["allowed"]])
    commands = [pipeline.PROBE, ("EVALSHA", "abc", 1, "gk:{d}:c", 7), ("EVALSHA", "abc", 0)]
    answers = asyncio.run(pipeline.on_connection(connection, commands, 1.0))
    assert answers[0] == "run_id:x" and isinstance(answers[1], NoScriptError)
    assert answers[2] == ["allowed"]
    assert connection.written == [hiredis.pack_command(c) for c in commands]
    assert not connection.disconnected


def test_a_read_that_fails_half_way_closes_the_connection() -> None:
    connection = Connection(["ok", RedisConnectionError("reset by peer"), "unread"])
    with pytest.raises(RedisConnectionError):
        asyncio.run(pipeline.on_connection(connection, [("PING",)] * 3, 1.0))
    assert connection.disconnected  # its unread replies never answer another pipeline


def test_a_pipeline_that_takes_too_long_times_out_and_closes_the_connection() -> None:
    connection = Connection(["ok"] * 3, delay=0.2)
    with pytest.raises(TimeoutError):
        asyncio.run(pipeline.on_connection(connection, [("PING",)] * 3, 0.3))
    assert connection.disconnected


class Parser:
    """redis-py's hiredis parser as ``pipeline._read_all`` uses it: a reader, and a socket
    that hands over the bytes in the pieces given."""

    def __init__(self, pieces: list[bytes]):
        from redis._parsers.base import _AsyncRESPBase
        from redis._parsers.hiredis import NOT_ENOUGH_DATA

        self._reader = hiredis.Reader(replyError=_AsyncRESPBase.parse_error,
                                      notEnoughData=NOT_ENOUGH_DATA, encoding="utf-8")
        self.pieces = pieces
        self.reads = 0

    async def read_from_socket(self) -> bool:
        if not self.pieces:
            raise RedisConnectionError("Connection closed by server.")
        self.reads += 1
        self._reader.feed(self.pieces.pop(0))
        return True


def test_replies_are_read_in_one_go_even_when_split_across_socket_reads() -> None:
    wire = b"+OK\r\n-NOSCRIPT No matching script\r\n*2\r\n$7\r\nallowed\r\n:3\r\n"
    parser = Parser([wire[:9], wire[9:30], wire[30:]])
    answers = asyncio.run(pipeline._read_all(parser, 3))
    assert answers[0] == "OK" and isinstance(answers[1], NoScriptError)
    assert answers[2] == ["allowed", 3]
    assert parser.reads == 3


def test_a_connection_closed_before_every_reply_came_raises() -> None:
    parser = Parser([b"+OK\r\n"])
    with pytest.raises(RedisConnectionError):
        asyncio.run(pipeline._read_all(parser, 2))
