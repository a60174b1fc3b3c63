"""The registry of rule kinds: one module per kind, listed once, here.

Each module holds the kind's frozen parameters, its YAML keys and checks, its plan hook
and its plain-words description (see ``base.Kind``). The loader's list of kinds, ``policy
show`` and the README's kinds table (``python -m gatekeeper.policy.kinds``; a unit test
keeps the README equal to it) all come from ``KINDS``. Adding a kind: write its module,
add it to ``_MODULES``, paste the table into the README.
"""

from __future__ import annotations

from typing import Any

from gatekeeper.policy.kinds import (
    content,
    cooldown,
    expiry,
    hours,
    inconvenient_times,
    limit,
    min_days_past_due,
    min_gap,
    notice_wait,
    opt_in_required,
    opt_out,
    spacing,
    status,
)
from gatekeeper.policy.kinds.base import CounterCheck, GapCheck, Kind, Planning

_MODULES = (limit, hours, status, opt_out, min_days_past_due, content, spacing, expiry, cooldown,
            inconvenient_times, opt_in_required, notice_wait, min_gap)
KINDS: dict[str, Kind[Any]] = {module.KIND.name: module.KIND for module in _MODULES}

__all__ = ["KINDS", "CounterCheck", "GapCheck", "Kind", "Planning", "kinds_table"]


def _parameters(kind: Kind[Any]) -> str:
    required = ", ".join(f"`{key}: {p.values}`" for key, p in kind.params.items() if p.required)
    optional = ", ".join(f"`{key}: {p.values}`" for key, p in kind.params.items()
                         if not p.required)
    if optional:
        return f"{required}; optional: {optional}" if required else f"optional: {optional}"
    return required or "—"


def kinds_table() -> str:
    """The README's table of rule kinds, in Markdown."""
    rows = ["| kind | parameters | meaning |", "|---|---|---|"]
    rows += [f"| `{kind.name}` | {_parameters(kind)} | {kind.meaning} |" for kind in KINDS.values()]
    return "\n".join(rows)
