"""Offline replay: history (requests, events, outcomes) through the same planning, Lua
and verdicts as the worker, with the clock set to each line's own timestamp.

Each input line is ``{"kind": "request"|"event"|"outcome", "data": {...}}``. One Decision
is written per request line, in input order; a malformed request line gets a Decision
``invalid`` naming the problem; a malformed event or outcome line stops the run, since the
history would be wrong after it. Each line's time is checked against the clock as the
worker checks it (``timebounds``); since each line is its own clock, only the fixed bounds
(nothing before 1970) can fail here.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import IO, Any

import orjson

from gatekeeper.counters.guard import read_meta
from gatekeeper.counters.keys import Hasher
from gatekeeper.counters.store import Store
from gatekeeper.errors import InvalidInput
from gatekeeper.gate import Gate
from gatekeeper.memory import initialize_empty
from gatekeeper.policy import load_policy
from gatekeeper.redis_server import PrivateRedis
from gatekeeper.timebounds import DEFAULT_BOUNDS, admit_event, admit_outcome, check_request
from gatekeeper.validate import event_from_dict, outcome_from_dict, request_from_dict

SIMULATION_KEY = b"gatekeeper-simulation"


def read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | InvalidInput]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.lstrip().startswith(b"#"):
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield number, InvalidInput(f"line {number}: not JSON: {exc}")
                continue
            if (not isinstance(item, dict) or item.get("kind") not in
                    ("request", "event", "outcome") or not isinstance(item.get("data"), dict)):
                yield number, InvalidInput(
                    f"line {number}: expected {{\"kind\": request|event|outcome, "
                    "\"data\": {...}}", found=str(item)[:80])
                continue
            yield number, item


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
async def _store(redis_url: str | None) -> AsyncIterator[Store]:
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


async def simulate(lines: Iterator[tuple[int, dict[str, Any] | InvalidInput]],
                   policies: list[str], store: Store, out: IO[bytes]) -> int:
    gate = Gate(load_policy(policies), store, Hasher(SIMULATION_KEY))
    count = 0
    for number, item in lines:
        if isinstance(item, InvalidInput):
            out.write(orjson.dumps(invalid_decision(None, item)) + b"\n")
            count += 1
            continue
        kind, data = item["kind"], item["data"]
        try:
            if kind == "request":
                request = request_from_dict(data)
                check_request(request, request.requested_at, DEFAULT_BOUNDS)
                (decision,) = await gate.decide([request], request.requested_at)
                if isinstance(decision, InvalidInput):
                    raise decision
                decision = dict(decision)
            elif kind == "event":
                event = event_from_dict(data)
                await gate.apply_events([admit_event(event, event.occurred_at, DEFAULT_BOUNDS)])
                continue
            else:
                outcome = outcome_from_dict(data)
                outcome = admit_outcome(outcome, outcome.occurred_at, DEFAULT_BOUNDS)
                await gate.apply_outcomes([outcome], outcome.occurred_at)
                continue
        except InvalidInput as error:
            if kind != "request":
                raise InvalidInput(f"line {number}: {kind}: {error.message}",
                                   field=error.field, expected=error.expected,
                                   found=error.found) from None
            decision = invalid_decision(data, error)
        out.write(orjson.dumps(decision) + b"\n")
        count += 1
    return count


async def run_simulation(input_file: Path, policies: list[str], redis_url: str | None,
                         out_file: Path | None) -> int:
    async with _store(redis_url) as store:
        if out_file is None:
            count = await simulate(read_lines(input_file), policies, store, sys.stdout.buffer)
            sys.stdout.flush()
            return count
        with out_file.open("wb") as out:
            return await simulate(read_lines(input_file), policies, store, out)

