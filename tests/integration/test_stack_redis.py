"""The stack's redis-server keeps its data across a restart (AOF, `scripts/stack redis-restart`)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import redis
from services import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
STACK_DIR = Path(os.environ.get("GK_STACK_DIR") or ROOT / ".stack")


def restart(port: int, *flags: str) -> str:
    run = subprocess.run([str(ROOT / "scripts" / "stack"), "redis-restart", *flags],
                         env={**os.environ, "GK_REDIS_PORT": str(port)}, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stderr


def test_a_restarted_stack_redis_comes_back_with_its_data(redis_url: str) -> None:
    port = urlsplit(redis_url).port or 6379
    owned = STACK_DIR / "redis" / "redis.started-by-stack"
    if not owned.exists() or owned.read_text().strip() != str(port):
        skip_or_fail(f"the Redis on port {port} was not started by scripts/stack: "
                     "cannot restart it")
    with redis.Redis.from_url(redis_url) as client:  # a new connection after each restart
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        client.set("gk:test:opted-out", "call")
        client.hset("gk:test:c", mapping={"r1|d|20000": 3})
        pid = client.info("server")["process_id"]

    said = restart(port)  # SIGTERM: a clean stop
    assert "keys loaded" in said
    with redis.Redis.from_url(redis_url) as client:
        assert client.info("server")["process_id"] != pid
        assert client.get("gk:test:opted-out") == b"call"
        assert client.hgetall("gk:test:c") == {b"r1|d|20000": b"3"}
        client.set("gk:test:later", "1")
        time.sleep(1.5)  # everysec: fsynced within about a second

    said = restart(port, "--kill")  # SIGKILL: a crash
    assert "SIGKILLed" in said
    with redis.Redis.from_url(redis_url) as client:
        assert client.get("gk:test:later") == b"1"
        assert client.get("gk:test:opted-out") == b"call"


def test_redis_restart_refuses_an_unknown_option() -> None:
    run = subprocess.run([str(ROOT / "scripts" / "stack"), "redis-restart", "--bogus"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode != 0
    assert "redis-restart: unknown option --bogus (expected --kill)" in run.stderr
