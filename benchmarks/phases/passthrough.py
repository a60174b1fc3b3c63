"""The baselines: a plain aiokafka loop, a faust passthrough, and a passthrough built like
the hot path (the faust app with its aiokafka request loop) move the pre-produced input."""

from __future__ import annotations

import sys
from typing import Any

from harness import HERE, Run, start_apps, stop_apps, wait_ready

from phases.common import saturate, wait_idle


async def phase_aiokafka(run: Run) -> dict[str, Any]:
    out = run.topics("aio")["allowed"]
    await wait_idle(run, "aiokafka passthrough")
    child = start_apps("aiokafka-passthrough",
                       [sys.executable, str(HERE / "aiokafka_passthrough.py"),
                        run.stack.bootstrap, run.prefix + "aio", run.input_topic, out],
                       [{"PYTHONUNBUFFERED": "1"}] * run.cfg.workers, run.log_dir)
    try:
        await wait_ready(child, ["aiokafka passthrough ready"])
        return await saturate(run, "aiokafka passthrough", child, [out], run.cfg.messages)
    finally:
        stop_apps(child)


async def phase_faust(run: Run) -> dict[str, Any]:
    env = run.app_env("pt", requests=run.input_topic)
    await wait_idle(run, "faust passthrough")
    child = start_apps("faust-passthrough",
                       [sys.executable, "-m", "gatekeeper.stream.passthrough"],
                       [env] * run.cfg.workers, run.log_dir)
    try:
        await wait_ready(child, ["passthrough ready", "Worker]: Ready"])
        return await saturate(run, "faust passthrough", child, [run.topics("pt")["allowed"]],
                              run.cfg.messages)
    finally:
        stop_apps(child)


async def phase_hot(run: Run) -> dict[str, Any]:
    env = run.app_env("hp", requests=run.input_topic)
    await wait_idle(run, "hot-path passthrough")
    child = start_apps("hot-passthrough",
                       [sys.executable, "-m", "gatekeeper.stream.hot_passthrough"],
                       [env] * run.cfg.workers, run.log_dir)
    try:
        await wait_ready(child, ["hot passthrough ready", "Worker]: Ready"])
        return await saturate(run, "hot-path passthrough", child,
                              [run.topics("hp")["allowed"]], run.cfg.messages)
    finally:
        stop_apps(child)
