"""``make demo`` leaves the review console running on the demo's topics, with a demo
reviewer account, and says where and how to sign in."""

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
    """Start ``gatekeeper console`` in the background on the demo's topics with a fresh
    index and a demo reviewer; the lines to print (URL, credentials, how to stop it)."""
    stop_previous()
    shutil.rmtree(DIRECTORY, ignore_errors=True)
    options = ConsoleSettings(directory=DIRECTORY)
    password = secrets.token_urlsafe(9)
    accounts = Accounts(options.accounts_path, options)
    accounts.add(USER, "reviewer", password, actor="demo")
    accounts.close()
    port = _port(int(os.environ.get("GATEKEEPER_CONSOLE_PORT") or options.port))
    log_path = Path(".stack") / "demo-console.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gatekeeper", "console", "--port", str(port), "--dir",
             str(DIRECTORY)], env={**os.environ, **env}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    PID_FILE.write_text(f"{process.pid}\n")
    url = f"http://127.0.0.1:{port}/console/"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        with suppress(OSError), urllib.request.urlopen(url + "signin", timeout=2) as answer:
            if answer.status == 200:
                break
        time.sleep(0.3)
    else:
        return [f"the review console did not start (log: {log_path})"]
    return ["", f"review console: {url}  (left running; log {log_path})",
            f"  sign in as {USER!r} (reviewer), password {password!r}",
            f"  stop it with: kill -TERM -$(cat {PID_FILE})"]
