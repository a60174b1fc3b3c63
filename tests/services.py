"""How a test treats a missing service: skip locally, fail in CI (CI=true)."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail(message: str) -> None:
    """A missing service skips the test locally and fails it in CI."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
