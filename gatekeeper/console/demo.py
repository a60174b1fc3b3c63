"""``make demo`` leaves ``gatekeeper serve`` running on the demo's topics (the HTTP API and,
under ``/console/``, the review console) with a demo reviewer account and a demo API key, and
says where and how to sign in."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

from gatekeeper.console.accounts import Accounts
from gatekeeper.console.config import ConsoleSettings
from gatekeeper.http.auth import KeyFile

DIRECTORY = Path(".stack") / "demo-console"
PID_FILE = Path(".stack") / "demo-console.pid"
USER = "demo"


def _port(wanted: int) -> int:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", wanted)) != 0:
            return wanted
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return int(free.getsockname()[1])


def stop_previous() -> None:
    """Stop the console an earlier demo left running (its process group, by its pid file)."""
    with suppress(FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        os.killpg(int(PID_FILE.read_text().strip()), signal.SIGTERM)
        time.sleep(1)
    PID_FILE.unlink(missing_ok=True)


def start_console(env: dict[str, str]) -> list[str]:
    """Start ``gatekeeper serve`` in the background on the demo's topics with a fresh
    console index, a demo reviewer and a demo API key; the lines to print (URLs,
    credentials, how to stop it)."""
    stop_previous()
    shutil.rmtree(DIRECTORY, ignore_errors=True)
    options = ConsoleSettings(directory=DIRECTORY)
    password = secrets.token_urlsafe(9)
    accounts = Accounts(options.accounts_path, options)
    accounts.add(USER, "reviewer", password, actor="demo")
    accounts.close()
    _, api_key = KeyFile(DIRECTORY / "api-keys").add("demo")
    port = _port(int(os.environ.get("GATEKEEPER_DEMO_PORT") or 8080))
    log_path = Path(".stack") / "demo-serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gatekeeper", "serve", "--bind", f"127.0.0.1:{port}",
             "--keys-dir", str(DIRECTORY / "api-keys"), "--loglevel", "info"],
            env={**os.environ, **env, "GATEKEEPER_CONSOLE_DIR": str(DIRECTORY),
                 "GATEKEEPER_CONSOLE_ENABLED": "true"}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    PID_FILE.write_text(f"{process.pid}\n")
    url = f"http://127.0.0.1:{port}/console/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with suppress(OSError), urllib.request.urlopen(url + "signin", timeout=2) as answer:
            if answer.status == 200:
                break
        time.sleep(0.3)
    else:
        return [f"gatekeeper serve did not start (log: {log_path})"]
    return ["", f"review console: {url}  (gatekeeper serve, left running; log {log_path})",
            f"  sign in as {USER!r} (reviewer), password {password!r}",
            f"HTTP API: http://127.0.0.1:{port}/v1/check  (Authorization: Bearer {api_key})",
            f"  stop it with: kill -TERM -$(cat {PID_FILE})"]
