"""The one worker-readiness wait, against small stand-in processes (no services needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gatekeeper.readiness import WORKER_READY, NotReady, Readiness


def start(log_path: Path, script: str) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-u", "-c", script], stdout=log,
                                stderr=subprocess.STDOUT)


READY_LATER = ("import time\nprint('booting')\ntime.sleep(0.3)\nprint('gatekeeper ready')\n"
               "time.sleep(0.3)\nprint('[Worker]: Ready')\ntime.sleep(30)")


def test_ready_once_every_marker_is_logged(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    process = start(log, READY_LATER)
    try:
        readiness = Readiness("w", log, process, poll_seconds=0.05)
        assert not readiness.ready()
        readiness.wait(20)
        assert all(marker in readiness.log_text() for marker in WORKER_READY)
    finally:
        process.kill()
        process.wait()


async def test_the_async_wait_reads_only_the_log_after_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    log.write_text("gatekeeper ready\n[Worker]: Ready\n")  # an earlier run's lines
    offset = log.stat().st_size
    process = start(log, READY_LATER)
    try:
        readiness = Readiness("w", log, process, offset=offset, poll_seconds=0.05)
        assert not readiness.ready()
        await readiness.wait_async(20)
        assert readiness.log_text().startswith("booting")
    finally:
        process.kill()
        process.wait()


def test_a_process_that_exits_first_is_not_ready_and_says_why(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    process = start(log, "import sys\nprint('gatekeeper ready')\nprint('boom')\nsys.exit(3)")
    process.wait()
    with pytest.raises(NotReady) as caught:
        Readiness("the worker", log, process).wait(20)
    message = str(caught.value)
    assert message.startswith("the worker exited (3) before it was ready")
    assert "boom" in message and str(log) in message


def test_a_timeout_names_the_missing_marker(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    process = start(log, "import time\nprint('gatekeeper ready')\ntime.sleep(30)")
    try:
        with pytest.raises(NotReady, match=r"did not become ready in 1s \(no '.*Worker\]: Ready'"):
            Readiness("w", log, process, poll_seconds=0.05).wait(1)
    finally:
        process.kill()
        process.wait()
