"""PURE: one environment variable's text as its setting's type, for every settings class
(gatekeeper.settings, the console's): a bad value is a ``ConfigError`` naming the variable,
what was expected and what was found, never a traceback."""

from __future__ import annotations

from typing import Any

from gatekeeper.errors import ConfigError

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def typed(variable: str, kind: str, raw: str) -> Any:
    """``raw`` as ``kind`` (the field's annotation: int, float, bool; anything else stays
    text)."""
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        expected = "a whole number" if kind == "int" else "a number"
        raise ConfigError(variable, expected, raw) from None
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        raise ConfigError(variable, "true or false", raw)
    return raw
