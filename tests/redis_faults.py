"""A redis-server the test owns, for faults that must disturb nobody else: SIGKILL, restarts
(empty, or from an older RDB snapshot), a replica to promote, and a TCP proxy that moves
the worker from a dead master to its promoted replica on the same address.

Every server runs on a free loopback port with a data directory of its own, without
persistence unless a snapshot is given (``--save ''``, ``--appendonly no``: what a restart
without persistence looks like).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

from gatekeeper.redis_server import _free_port

SNAPSHOT = "dump.rdb"


class FaultRedis:
    def __init__(self, port: int | None = None, *, replica_of: int | None = None):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = port or _free_port()
        self.replica_of = replica_of
        self.dir = Path(tempfile.mkdtemp(prefix="gk-fault-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10)

    def start(self, snapshot: Path | None = None, timeout: float = 20.0) -> FaultRedis:
        """Start on this port, empty, or loading ``snapshot`` (an RDB file); return once it
        answers (and has loaded it)."""
        (self.dir / SNAPSHOT).unlink(missing_ok=True)
        if snapshot is not None:
            shutil.copyfile(snapshot, self.dir / SNAPSHOT)
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                   "--dbfilename", SNAPSHOT, "--logfile", str(self.dir / "redis.log")]
        if self.replica_of is not None:
            command += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on {self.port} exited: "
                                   + self.log_tail())
            with contextlib.suppress(redis.RedisError, OSError):
                client = self.client()
                try:
                    if client.ping():
                        return self
                finally:
                    client.close()
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not answer in {timeout}s")

    def log_tail(self, lines: int = 20) -> str:
        path = self.dir / "redis.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def run_id(self) -> str:
        client = self.client()
        try:
            return str(client.info("server")["run_id"])
        finally:
            client.close()

    def snapshot(self, to: Path) -> int:
        """``SAVE`` now and copy the RDB to ``to``; return the number of keys it holds (the
        key count before and after the SAVE agree: a writer keeps writing meanwhile)."""
        client = self.client()
        try:
            while True:
                before = int(client.dbsize())
                client.save()
                keys = int(client.dbsize())
                if keys == before:
                    break
        finally:
            client.close()
        shutil.copyfile(self.dir / SNAPSHOT, to)
        return keys

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def wait_synced(self, timeout: float = 20.0) -> None:
        """(A replica) wait until the link to its master is up and the initial sync done."""
        deadline = time.monotonic() + timeout
        client = self.client()
        try:
            while time.monotonic() < deadline:
                info = client.info("replication")
                if info.get("master_link_status") == "up" and \
                        not info.get("master_sync_in_progress"):
                    return
                time.sleep(0.1)
        finally:
            client.close()
        raise RuntimeError(f"replica on {self.port} did not sync in {timeout}s")

    def promote(self) -> None:
        """``REPLICAOF NO ONE``: the replica becomes a master with the data it had."""
        client = self.client()
        try:
            client.execute_command("REPLICAOF", "NO", "ONE")
        finally:
            client.close()
        self.replica_of = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Proxy:
    """A TCP forwarder on one loopback port (the address the worker knows) to a Redis port
    that can change, as a virtual IP or a sentinel-aware endpoint moves after a failover.
    It runs its own event loop in a thread, so blocking test code does not stall it."""

    def __init__(self, target: int):
        self.port = _free_port()
        self.target = target
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the proxy did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port))
        started.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def switch(self, target: int) -> None:
        """Send new connections to ``target`` and cut every open one (as a failover does)."""
        def cut() -> None:
            self.target = target
            for writer in list(self._writers):
                writer.close()
            self._writers.clear()
        self._loop.call_soon_threadsafe(cut)

    def close(self) -> None:
        def stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.close()
            self._loop.stop()
        self._loop.call_soon_threadsafe(stop)
        self._thread.join(10)
