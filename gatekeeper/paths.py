"""Where the project's data files live: ``schemas/`` and ``policies/``.

An installed package carries them inside (``gatekeeper/_data/``, copied there by
``setup.py`` when the wheel is built); a source checkout or an editable install reads them
at the project root. ``GATEKEEPER_SCHEMAS`` / ``GATEKEEPER_POLICIES`` override both.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DATA = Path(__file__).resolve().parent / "_data"
ROOT = Path(__file__).resolve().parent.parent


def _folder(name: str, variable: str) -> Path:
    if os.environ.get(variable):
        return Path(os.environ[variable])
    packaged = PACKAGE_DATA / name
    return packaged if packaged.is_dir() else ROOT / name


SCHEMAS = _folder("schemas", "GATEKEEPER_SCHEMAS")
POLICIES = _folder("policies", "GATEKEEPER_POLICIES")
