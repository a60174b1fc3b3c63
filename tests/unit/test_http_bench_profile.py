"""The HTTP benchmark's reading of py-spy samples: each sample goes to the innermost frame
that names a component, so a socket write counts for whoever wrote."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from phases.http import components  # noqa: E402

ROOT = "<module> (gatekeeper/__main__.py:3);Runner.run (asyncio/runners.py:118)"
SAMPLES = "\n".join([
    f"{ROOT};check (gatekeeper/http/app.py:140);StreamWriter._writelines "
    "(aiohttp/http_writer.py:116);write (asyncio/selector_events.py:1057) 6",
    f"{ROOT};AuditSink._run (gatekeeper/http/audit.py:182);AIOKafkaConnection.send "
    "(aiokafka/conn.py:423) 2",
    f"{ROOT};Service._decide (gatekeeper/http/service.py:202);Gate.decide_recorded "
    "(gatekeeper/gate.py:108);Store.run (gatekeeper/counters/store.py:119) 1",
    f"{ROOT};Handle._run (asyncio/events.py:80) 1",
])


def test_samples_are_summed_by_the_innermost_named_component(tmp_path: Path) -> None:
    collapsed = tmp_path / "profile.txt"
    collapsed.write_text(SAMPLES + "\n")
    profile = components(collapsed, 1000.0)
    assert profile["samples"] == 10
    assert profile["components"] == [
        ("aiohttp (parsing, routing, writing)", 60.0, 600),
        ("audit records produced (aiokafka)", 20.0, 200),
        ("Redis pipeline (redis-py)", 10.0, 100),  # the store, inside the gate's call
        ("event loop, other", 10.0, 100),
    ]
