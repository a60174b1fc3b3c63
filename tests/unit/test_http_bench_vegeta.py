"""The HTTP benchmark's open loop through vegeta: the targets it writes and how it reads
vegeta's JSON report (a stand-in executable plays vegeta)."""

from __future__ import annotations

import base64
import json
import stat
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from phases.http import open_loop_vegeta  # noqa: E402

REPORT = {"requests": 1000, "rate": 99.9,
          "latencies": {"50th": 4_200_000, "95th": 8_000_000, "99th": 9_500_000,
                        "max": 31_000_000},
          "status_codes": {"409": 300, "200": 690, "422": 10},
          "errors": ["409 Conflict", "422 Unprocessable Entity", "dial tcp: connection refused"]}


def fake_vegeta(tmp_path: Path) -> str:
    """Records its arguments; `attack` writes an empty results file, `report` prints REPORT."""
    script = tmp_path / "vegeta"
    script.write_text(f"""#!/bin/sh
echo "$@" >> {tmp_path}/calls
case "$1" in
  attack) for a in "$@"; do case "$a" in -output=*) : > "${{a#-output=}}";; esac; done;;
  report) echo '{json.dumps(REPORT)}';;
esac
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


async def test_targets_carry_the_key_and_bodies_and_the_report_is_read_in_ms(
        tmp_path: Path) -> None:
    vegeta = fake_vegeta(tmp_path)
    bodies = [b'{"request_id": "r-%d"}' % i for i in range(2000)]
    result = await open_loop_vegeta(vegeta, "http://127.0.0.1:1", "gk_key", bodies, 100.0,
                                    10.0, tmp_path)
    assert result["load_generator"] == "vegeta"
    assert result["latency_ms"] == {"p50": 4.2, "p95": 8.0, "p99": 9.5, "max": 31.0}
    assert result["statuses"] == {"200": 690, "409": 300, "422": 10}
    assert result["errors"] == {"dial tcp: connection refused": 1}  # not the 409s and 422s
    assert result["checks"] == 1000 and result["achieved_rate"] == 99.9
    targets = [json.loads(line) for line in
               (tmp_path / "http-vegeta-targets.jsonl").read_text().splitlines()]
    assert len(targets) == 100 * 10 + 32
    assert targets[0]["url"] == "http://127.0.0.1:1/v1/check"
    assert targets[0]["header"]["Authorization"] == ["Bearer gk_key"]
    assert base64.b64decode(targets[5]["body"]) == bodies[5]
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["attack", "attack", "report"]  # warm-up first
    assert "-rate=100/s" in calls[1] and "-duration=10s" in calls[1]
    assert "-duration=1s" in calls[0]
