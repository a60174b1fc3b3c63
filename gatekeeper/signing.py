"""``gk-signature``: HMAC-SHA256 over the request id, the decision id, the policy version
and a hash of the payload, so a carrier can check that a message on ``contact.allowed``
was allowed by the gate and not produced around it. Several keys may be accepted (rotation):
the first signs, all verify."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

VERSION = "v1"


def _material(request_id: str, decision_id: str, policy: str, payload: bytes) -> bytes:
    digest = hashlib.sha256(payload).hexdigest()
    return "\n".join((VERSION, request_id, decision_id, policy, digest)).encode()


def sign(key: bytes, request_id: str, decision_id: str, policy: str, payload: bytes) -> str:
    mac = hmac.digest(key, _material(request_id, decision_id, policy, payload), "sha256")
    return f"{VERSION}={mac.hex()}"


def verify(keys: Sequence[bytes], signature: str, request_id: str, decision_id: str,
           policy: str, payload: bytes) -> bool:
    material = _material(request_id, decision_id, policy, payload)
    for key in keys:
        expected = f"{VERSION}={hmac.new(key, material, hashlib.sha256).hexdigest()}"
        if hmac.compare_digest(expected, signature):
            return True
    return False
