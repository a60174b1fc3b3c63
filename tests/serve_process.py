"""Run ``gatekeeper serve`` as a real subprocess for integration tests, and call it."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from packs import plain_pack

API_PACK = plain_pack("api", "HTTP API tests, no clock rules (the wall clock must not matter here)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    def __init__(self, log_path: Path, env: dict[str, str], *, ca_file: str | None = None):
        """``ca_file``: serve over TLS (GATEKEEPER_HTTP_TLS_CERT in ``env``), verified so."""
        self.log_path = log_path
        self.port = free_port()
        self.url = f"{'https' if ca_file else 'http'}://127.0.0.1:{self.port}"
        self.tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
        # the API alone (the console, on by default, has its own tests and would index
        # every topic of the run): GATEKEEPER_CONSOLE_ENABLED in ``env`` turns it back on
        self.env = {**os.environ, "GATEKEEPER_CONSOLE_ENABLED": "false", **env,
                    "GATEKEEPER_HTTP": f"127.0.0.1:{self.port}"}
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self, timeout: float = 120.0, *, ready: bool = True) -> ServeProcess:
        """Start; wait until /readyz answers 200 (or, ``ready=False``, until it listens)."""
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gatekeeper", "serve", "--loglevel", "info"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}:\n"
                                   + self.log_tail())
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2,
                                            context=self.tls) as answer:
                    if answer.status == 200:
                        return self
            except urllib.error.HTTPError:
                if not ready:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("serve did not get ready:\n" + self.log_tail())

    def readiness(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=5,
                                        context=self.tls) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def log_text(self) -> str:
        return self.log_path.read_bytes()[self._log_offset:].decode("utf-8", "replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


class Client:
    """Calls to a running server with one API key."""

    def __init__(self, session: aiohttp.ClientSession, url: str, key: str):
        self.session = session
        self.url = url
        self.key = key

    async def call(self, method: str, path: str, body: Any = None, *,
                   key: str | None = None, headers: dict[str, str] | None = None,
                   data: bytes | None = None) -> tuple[int, Any, dict[str, str]]:
        sent = {"Authorization": f"Bearer {key if key is not None else self.key}"}
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        async with self.session.request(method, self.url + path, data=data,
                                        headers=sent) as answer:
            raw = await answer.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode()
            return answer.status, parsed, dict(answer.headers)

    async def check(self, body: dict[str, Any], **query: str) -> tuple[int, Any]:
        path = "/v1/check" + ("?" + "&".join(f"{k}={v}" for k, v in query.items())
                              if query else "")
        status, parsed, _ = await self.call("POST", path, body)
        return status, parsed
