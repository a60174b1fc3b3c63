"""One more worker saturation run under py-spy, summarised by component."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from clients import flush_db
from harness import (
    ROOT,
    Child,
    Run,
    start_apps,
    start_child,
    stop_apps,
    stop_child,
    wait_ready,
    worker_argv,
)

from phases.common import saturate, wait_idle


async def phase_profile(run: Run) -> dict[str, Any]:
    """Another gatekeeper saturation run with py-spy attached (native frames off, 100 Hz)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return {"error": "py-spy not installed (.venv/bin/pip install py-spy)"}
    url = run.stack.redis_url(run.cfg.redis_db)
    await flush_db(url)
    topics = run.topics("prof")
    await wait_idle(run, "profile")
    child = start_apps("gatekeeper-worker-profiled", worker_argv(),
                       [run.app_env("prof", requests=run.input_topic)], run.log_dir)
    raw = run.log_dir / "profile.collapsed.txt"
    spy_child: Child | None = None
    try:
        await wait_ready(child, ["gatekeeper ready", "Worker]: Ready"])

        async def attach() -> None:
            nonlocal spy_child
            spy_child = start_child("py-spy", [spy, "record", "--pid", str(child.pids[0]),
                                               "--rate", "100", "--format", "raw", "--threads",
                                               "--output", str(raw), "--nonblocking"],
                                    {}, run.log_dir)

        result = await saturate(run, "gatekeeper worker (py-spy attached)", child,
                                [topics[k] for k in ("allowed", "review", "invalid")],
                                run.cfg.messages, on_first=attach)
    finally:
        if spy_child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(spy_child.process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy_child.process.wait(30)
            stop_child(spy_child)
        stop_apps(child)
    if raw.exists():
        result["hot_spots"] = summarize_profile(raw)
        result["collapsed_stacks"] = str(raw.relative_to(ROOT))
    return result


COMPONENTS = [  # (label, substring of a frame); the deepest match along a stack wins
    ("gatekeeper: agent loop (app.py)", "create_app.<locals>.requests ("),
    ("gatekeeper: process_requests", "process_requests ("),
    ("gatekeeper: validate (parse_request)", "parse_request ("),
    ("gatekeeper: Gate.decide (own code)", "Gate.decide ("),
    ("gatekeeper: content_hash", "content_hash ("),
    ("gatekeeper: plan (make_plan)", "make_plan ("),
    ("gatekeeper: build Lua args (wire.decide_call)", "wire.py:"),
    ("gatekeeper: verdict", "Gate._verdict ("),
    ("gatekeeper: record blocked (_record)", "Gate._record ("),
    ("gatekeeper: state_from_hash", "state_from_hash ("),
    ("redis-py: pipelines (pack, send, parse)", "Store._pipeline ("),
    ("gatekeeper: routing.allowed + HMAC", "allowed (gatekeeper/stream/routing.py)"),
    ("gatekeeper: routing.review (orjson)", "review (gatekeeper/stream/routing.py)"),
    ("gatekeeper: routing.invalid", "invalid (gatekeeper/stream/routing.py)"),
    ("faust: produce (send_all)", "send_all ("),
    ("gatekeeper: metrics (_count, observe)", "_count (gatekeeper/stream/app.py)"),
    ("gatekeeper: metrics (_count, observe)", "Histogram.observe ("),
    ("gatekeeper: incoming()", "incoming (gatekeeper/stream/app.py)"),
]


def categorize(frames: list[str]) -> str:
    label = None
    for frame in frames:
        for name, needle in COMPONENTS:
            if needle in frame:
                label = name
    if label is not None and label != "gatekeeper: agent loop (app.py)":
        return label
    joined = ";".join(frames)
    if label is not None:
        if "faust/" in joined or "mode/" in joined:
            return "faust: take_events / acks (in the agent)"
        return label
    if "aiokafka/" in joined:
        return "aiokafka: fetch / produce I/O"
    if "faust/" in joined or "mode/" in joined:
        return "faust: consumer, conductor, stream machinery"
    if "redis/" in joined:
        return "redis-py: connection I/O"
    return "event loop / other"


def summarize_profile(path: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    components: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        threads[frames[0]] += n
        names = [re.sub(r":\d+\)$", ")", f) for f in frames[1:]]
        if names:
            own[names[-1]] += n
        components[categorize(names)] += n
        for name in set(names):
            inclusive[name] += n
    if not total:
        return {}

    def share(c: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in c.most_common(top)]

    return {"samples": total, "threads_pct": share(threads),
            "components_pct": share(components), "self_pct": share(own),
            "inclusive_pct": share(inclusive)}
