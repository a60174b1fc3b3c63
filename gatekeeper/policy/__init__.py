"""Policy packs: the closed YAML format, its rule kinds, and the loader.

The loader is imported on first use: it pulls in every rule kind, whose plan hooks need
``gatekeeper.localtime``, which itself needs ``gatekeeper.policy.model``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gatekeeper.policy.model import Pack, Policy, Rule

if TYPE_CHECKING:
    from gatekeeper.policy.load import load_pack, load_policy

__all__ = ["Pack", "Policy", "Rule", "load_pack", "load_policy"]


def __getattr__(name: str) -> Any:
    if name in ("load_pack", "load_policy"):
        from gatekeeper.policy import load

        return getattr(load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
