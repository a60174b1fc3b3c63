"""Policy packs: the closed YAML format, its rule kinds, and the loader."""

from gatekeeper.policy.load import load_pack, load_policy
from gatekeeper.policy.model import Pack, Policy, Rule

__all__ = ["Pack", "Policy", "Rule", "load_pack", "load_policy"]
