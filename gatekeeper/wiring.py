"""The core every shell runs on: policy, store, gate and keeper, wired once.

The worker (``stream/app.py``) and the HTTP API (``http/``) build the same pieces from the
same settings: one ``Store`` on ``GATEKEEPER_REDIS``, one ``Gate`` hashing names with
``GATEKEEPER_HASH_KEY``, and one ``Keeper`` that rebuilds the store from the Kafka record.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from gatekeeper import restore
from gatekeeper.counters.keys import Hasher
from gatekeeper.counters.store import Store
from gatekeeper.gate import Gate, Ttls
from gatekeeper.memory import Keeper
from gatekeeper.policy import load_policy
from gatekeeper.policy.model import Policy
from gatekeeper.settings import Settings


@dataclass
class Core:
    policy: Policy
    store: Store
    gate: Gate
    keeper: Keeper


def require_keys(settings: Settings, who: str, *, signing: bool) -> None:
    """Refuse to start without the keys a shell needs (``SystemExit`` with the reason)."""
    if signing and not settings.signing_keys:
        raise SystemExit(f"GATEKEEPER_SIGNING_KEY is not set: {who} signs every allowed "
                         "message and refuses to start without a key")
    if not settings.hash_key:
        raise SystemExit("GATEKEEPER_HASH_KEY is not set: phone numbers and addresses are "
                         f"stored only as keyed hashes, and {who} refuses to start "
                         "without a key of its own (it is not the signing key: rotating "
                         "that must not change a stored name)")


def build_core(settings: Settings) -> Core:
    """Policy, store, gate and keeper from the settings (raises ``PolicyError``)."""
    policy = load_policy(settings.policy)
    store = Store.from_url(settings.redis)
    gate = Gate(policy, store, Hasher(settings.hashing_key),
                Ttls(decision_seconds=settings.decision_ttl_days * 86400))
    keeper = Keeper(store, settings.hashing_key, partial(restore.rebuild, settings, gate))
    return Core(policy, store, gate, keeper)
