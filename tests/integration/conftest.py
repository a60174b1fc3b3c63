"""Integration tests: every test here needs the local Kafka + Redis (`scripts/stack up`).

The `integration` marker is added by tests/conftest.py; the autouse fixture below makes each
test depend on the session-wide `stack` check, so without a stack they are skipped (or fail
when CI=true) instead of hanging on connection retries.
"""

from __future__ import annotations

from typing import Any

import pytest

# `stack` is the tests/conftest.py Stack dataclass (not imported: two modules named conftest).
Stack = Any


@pytest.fixture(autouse=True)
def _require_stack(stack: Stack) -> Stack:
    return stack


@pytest.fixture
def broker_url(stack: Stack) -> str:
    """faust-style broker URL, e.g. kafka://127.0.0.1:9092."""
    return stack.broker_url


@pytest.fixture
def bootstrap(stack: Stack) -> str:
    """aiokafka-style bootstrap servers, e.g. 127.0.0.1:9092."""
    return stack.bootstrap
