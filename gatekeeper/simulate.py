"""Offline replay: history (requests, events, outcomes) through the same planning, Lua
and verdicts as the worker, with the clock set to each line's own timestamp.

The input is JSON lines (``gatekeeper.history``). One Decision is written per request
line, in input order. The whole file is checked before anything runs: a bad line (not
JSON, an unknown kind, data that breaks the contract) stops the run with every bad line
named, since the history would be wrong after it. With ``skip_invalid`` the bad lines are
reported and the run goes on without them, except that a request whose data breaks the
contract gets a Decision ``invalid`` (what the worker does with it: the dead-letter
topic). A request id reused with other content is ``invalid`` in either mode. A request with
``on_block: defer`` blocked until a time is written ``deferred`` (with ``deferred_until``),
and its outcome at that time follows, in time order (``deferral/simulated.py``).
Each line's time is checked against the clock as the worker checks it (``timebounds``,
in ``history``).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from gatekeeper.counters.guard import read_meta
from gatekeeper.counters.keys import Hasher
from gatekeeper.counters.store import Store
from gatekeeper.deferral.simulated import Pending
from gatekeeper.errors import InvalidInput
from gatekeeper.gate import Gate
from gatekeeper.history import BadLine, Entry, Record, read_history
from gatekeeper.memory import initialize_empty
from gatekeeper.model import ContactCancel, ContactOutcome, ContactRequest, DebtorEvent
from gatekeeper.policy import load_policy
from gatekeeper.redis_server import PrivateRedis

SIMULATION_KEY = b"gatekeeper-simulation"
SHOWN_BAD_LINES = 20


def invalid_decision(data: Any, error: InvalidInput) -> dict[str, Any]:
    data = data if isinstance(data, dict) else {}
    return {
        "request_id": str(data.get("request_id", "")),
        "debtor_id": str(data.get("debtor_id", "")),
        "decision": "invalid",
        "reasons": [{"rule": "contract", "kind": "invalid", "message": error.message,
                     "limit": None, "observed": None, "retry_at": None, "citation": None}],
        "retry_at": None,
        "policy": "",
        "evaluated_at": "",
        "shadow": [],
    }


@asynccontextmanager
async def simulation_store(redis_url: str | None) -> AsyncIterator[Store]:
    """A store of its own: a private redis-server (or the Redis given), claimed empty."""
    with PrivateRedis() if redis_url is None else nullcontext() as private:
        store = Store.from_url(redis_url or private.url)  # type: ignore[union-attr]
        try:
            await store.ping()
            await _claim(store)
            yield store
        finally:
            await store.close()


async def _claim(store: Store) -> None:
    """A simulation starts from an empty working copy of its own. It refuses a Redis that
    holds a gatekeeper's working copy (it would wipe it)."""
    meta = await read_meta(store)
    if meta is not None and meta.stats.get("purpose") != "simulation":
        raise InvalidInput("this Redis holds a gatekeeper's working copy: simulate needs a "
                           "Redis of its own (omit --redis to get a private one)",
                           field="--redis", expected="an empty or simulation-only Redis",
                           found="a gatekeeper working copy")
    await initialize_empty(store, SIMULATION_KEY, purpose="simulation")


async def simulate(lines: Iterable[Entry | BadLine], policies: list[str], store: Store,
                   out: IO[bytes]) -> int:
    """Run the lines in order; a bad request line gets an ``invalid`` Decision, any other
    bad line is left out. Returns the number of decisions written."""
    gate = Gate(load_policy(policies), store, Hasher(SIMULATION_KEY))
    pending = Pending(gate)  # deferred requests (on_block: defer), decided again when due
    count = 0
    for line in lines:
        if not isinstance(line, BadLine) and (at := _time_of(line.record)) is not None:
            for due in await pending.due(at):
                out.write(orjson.dumps(due) + b"\n")
                count += 1
        if isinstance(line, BadLine):
            if line.kind == "request":
                out.write(orjson.dumps(invalid_decision(line.data, line.error())) + b"\n")
                count += 1
            continue
        record = line.record
        if isinstance(record, ContactRequest):
            (decision,) = await gate.decide([record], record.requested_at)
            written = invalid_decision(record.raw, decision) \
                if isinstance(decision, InvalidInput) else \
                pending.line(record, decision, record.requested_at)
            out.write(orjson.dumps(written) + b"\n")
            count += 1
        elif isinstance(record, DebtorEvent):
            await gate.apply_events([record])
        elif isinstance(record, ContactOutcome):
            await gate.apply_outcomes([record], record.occurred_at)
        elif isinstance(record, ContactCancel):
            out.write(orjson.dumps(pending.cancel(record)) + b"\n")
    for due in await pending.due(None):
        out.write(orjson.dumps(due) + b"\n")
        count += 1
    return count


def _time_of(record: Record) -> datetime | None:
    """A line's time (a cancel without ``requested_at`` happens where it stands)."""
    if isinstance(record, ContactRequest | ContactCancel):
        return record.requested_at
    return record.occurred_at


def bad_lines(input_file: Path) -> list[BadLine]:
    return [line for line in read_history(input_file) if isinstance(line, BadLine)]


def refuse(input_file: Path, bad: list[BadLine]) -> InvalidInput:
    shown = [f"  {line.describe(input_file)}" for line in bad[:SHOWN_BAD_LINES]]
    if len(bad) > SHOWN_BAD_LINES:
        shown.append(f"  ... and {len(bad) - SHOWN_BAD_LINES} more")
    return InvalidInput(f"{input_file}: {len(bad)} bad line{'s' if len(bad) > 1 else ''}, "
                        "nothing was simulated (--skip-invalid reports them and goes on "
                        "without them):\n" + "\n".join(shown))


async def run_simulation(input_file: Path, policies: list[str], redis_url: str | None,
                         out_file: Path | None, *, skip_invalid: bool = False,
                         report: Callable[[str], None] = print) -> int:
    """Check the whole file, then replay it; returns the number of decisions written."""
    load_policy(policies)  # a bad pack fails before anything starts
    bad = bad_lines(input_file)
    if bad and not skip_invalid:
        raise refuse(input_file, bad)
    for line in bad:
        report(line.describe(input_file) + (" (decision: invalid)" if line.kind == "request"
                                            else " (left out)"))
    async with simulation_store(redis_url) as store:
        if out_file is None:
            count = await simulate(read_history(input_file), policies, store,
                                   sys.stdout.buffer)
            sys.stdout.flush()
            return count
        with out_file.open("wb") as out:
            return await simulate(read_history(input_file), policies, store, out)
