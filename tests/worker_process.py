"""Run ``gatekeeper worker`` as a real subprocess for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from gatekeeper.readiness import Readiness


def worker_env(broker: str, redis_url: str, topic_prefix: str, app_id: str, policy: Path,
               signing_key: str, **extra: str) -> dict[str, str]:
    """The environment of a test's worker: its own topics, group and Redis database."""
    env = {"GATEKEEPER_BROKER": broker, "GATEKEEPER_REDIS": redis_url,
           "GATEKEEPER_TOPIC_PREFIX": topic_prefix, "GATEKEEPER_APP_ID": app_id,
           "GATEKEEPER_POLICY": str(policy), "GATEKEEPER_SIGNING_KEY": signing_key,
           "GATEKEEPER_METRICS_PORT": "0", "GATEKEEPER_HASH_KEY": "test-hash-key"}
    env.update({f"GATEKEEPER_{name.upper()}": value for name, value in extra.items()})
    return env


class WorkerProcess:
    def __init__(self, log_path: Path, env: dict[str, str]):
        self.log_path = log_path
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gatekeeper", "worker", "--loglevel", "info"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        Readiness("worker", self.log_path, self.process, offset=self._log_offset).wait(timeout)
        return self

    def log_text(self) -> str:
        data = self.log_path.read_bytes()[self._log_offset:]
        return data.decode("utf-8", "replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no final commit."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None
