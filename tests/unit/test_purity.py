"""The pure core imports neither faust nor redis and never reads the clock."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PURE = ["gatekeeper.model", "gatekeeper.validate", "gatekeeper.policy", "gatekeeper.policy.load",
        "gatekeeper.policy.kinds", "gatekeeper.policy.describe", "gatekeeper.localtime",
        "gatekeeper.plan", "gatekeeper.verdict", "gatekeeper.state", "gatekeeper.counters.keys",
        "gatekeeper.stream.routing", "gatekeeper.signing", "gatekeeper.timebounds",
        "gatekeeper.counters.wire", "gatekeeper.counters.memory_store", "gatekeeper.stored",
        "gatekeeper.timeutil", "gatekeeper.debtor_view", "gatekeeper.analytics.dimensions",
        "gatekeeper.analytics.entries",
        "gatekeeper.analytics.figures", "gatekeeper.analytics.compare",
        "gatekeeper.analytics.svg", "gatekeeper.analytics.page",
        "gatekeeper.analytics.synthetic", "gatekeeper.analytics.replay"]
PACKAGE = Path(__file__).resolve().parents[2] / "gatekeeper"


def test_pure_modules_do_not_pull_in_faust_or_redis() -> None:
    code = ("import sys\n" + "".join(f"import {m}\n" for m in PURE)
            + "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
              "('faust', 'redis', 'aiokafka', 'mode'))\nprint(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_planning_and_verdicts_never_read_the_clock() -> None:
    kinds = sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "policy").rglob("*.py"))
    assert "policy/kinds/limit.py" in kinds
    for name in ("plan.py", "verdict.py", "localtime.py", "state.py", "timebounds.py",
                 "timeutil.py", "validate.py", *kinds):
        tree = ast.parse((PACKAGE / name).read_text())
        for node in ast.walk(tree):
            clock = (isinstance(node, ast.Attribute)
                     and node.attr in ("now", "utcnow", "today", "time")
                     and isinstance(node.value, ast.Name)
                     and node.value.id in ("datetime", "date", "time"))
            assert not clock, f"{name}:{node.lineno} reads the clock"
