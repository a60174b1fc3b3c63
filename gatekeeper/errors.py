"""The one exception tree of gatekeeper.

    GatekeeperError                 root: catch this to catch everything of ours
    ├── InvalidInput                a message that breaks the contract (goes to contact.invalid)
    │   └── UndecodableInput        not even JSON (or too large): nothing of it could be read
    ├── PolicyError                 a policy pack that cannot be loaded (file, path, message)
    ├── ConfigError                 a setting (environment variable or flag) that cannot be used
    ├── StoreUnavailable            Redis cannot be reached or answered with an error; retriable
    │   └── StoreLost               Redis lost data (a flush, a restart, a failover, a rollback),
    │                               or is being rebuilt: hold, rebuild from Kafka, then retry
    └── BrokerUnavailable           Kafka cannot be reached (operator commands); retriable

Control flow is not signalled with these: a blocked request is a Decision, not an error.
"""

from __future__ import annotations

from typing import Any


class GatekeeperError(Exception):
    """Root of every error raised by gatekeeper."""

    retriable: bool = False


class InvalidInput(GatekeeperError):
    """A message that does not meet the contract.

    ``field`` is a dotted path into the message (``data.debtor.timezone``), ``expected``
    what the contract wants and ``found`` a short rendering of what arrived.
    """

    def __init__(self, message: str, *, field: str = "", expected: str = "", found: Any = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.expected = expected
        self.found = found

    def as_dict(self) -> dict[str, Any]:
        found = self.found
        if found is not None and not isinstance(found, (str, int, float, bool)):
            found = repr(found)
        if isinstance(found, str) and len(found) > 200:
            found = found[:200] + "..."
        return {
            "type": "invalid_input",
            "message": self.message,
            "field": self.field,
            "expected": self.expected,
            "found": found,
        }


class UndecodableInput(InvalidInput):
    """A message that is not a JSON object at all (bad bytes, bad JSON, too large)."""


class PolicyError(GatekeeperError):
    """A policy pack that cannot be loaded; names the file and the path inside it."""

    def __init__(self, file: str, path: str, message: str):
        super().__init__(f"{file}: {path or '<root>'}: {message}")
        self.file = file
        self.path = path
        self.message = message


class ConfigError(GatekeeperError):
    """A setting that cannot be used: names the variable or flag, what was expected and
    what was found."""

    def __init__(self, name: str, expected: str, found: Any):
        super().__init__(f"{name}: expected {expected}, found {found!r}")
        self.name = name
        self.expected = expected
        self.found = found


class StoreUnavailable(GatekeeperError):
    """Redis is unreachable, paused or answered with an error: processing must pause."""

    retriable = True


class StoreLost(StoreUnavailable):
    """The store's working copy cannot be trusted: its memory marker is gone (a flush, an
    empty restart), a node's run id changed (a restart, a failover, an old snapshot), or a
    rebuild is under way. Nothing was decided from it; the caller holds until it is rebuilt."""


class BrokerUnavailable(GatekeeperError):
    """Kafka cannot be reached or does not answer in time."""

    retriable = True
