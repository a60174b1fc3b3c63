"""Where the project's data files live: ``schemas/`` and ``policies/`` at the project root."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = Path(os.environ.get("GATEKEEPER_SCHEMAS", ROOT / "schemas"))
POLICIES = Path(os.environ.get("GATEKEEPER_POLICIES", ROOT / "policies"))
