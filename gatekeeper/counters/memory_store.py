"""An in-memory store: the same contract as ``Store``, the scripts of ``lua/`` written again
in Python, for unit tests without sockets and for reasoning about the scripts.

It is not a Redis: only what the gate uses is here (the five scripts, HGETALL/HGET/HMGET/
EXISTS/TTL reads, the memory primitives), and one ``tests/store_contract.py`` suite runs
against both it and a real redis-server, so the two cannot drift apart. Each call runs to
completion before the next (one event loop, no awaits inside a script): as atomic as Lua.

``flush()`` and ``restart()`` stand in for a ``FLUSHALL`` and for a restart (a new run id,
with or without the data): the gate must notice both.
"""

from __future__ import annotations

import fnmatch
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from gatekeeper.counters.contract import writing_epoch
from gatekeeper.counters.keys import LOCK_KEY, META_KEY, PREFIX, marker_for
from gatekeeper.counters.memory_schedule import schedule
from gatekeeper.counters.wire import (
    LOST,
    Call,
    base36,
    stored_generation,
    to_ms,
    trim_words,
)
from gatekeeper.errors import StoreLost, StoreUnavailable


class MemoryStore:
    cluster = False

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.hashes: dict[str, dict[str, str]] = {}
        self.strings: dict[str, str] = {}
        self.expiry: dict[str, float] = {}
        self.run_id = uuid.uuid4().hex
        self.epoch: str | None = None
        self.identity: dict[str, str] = {}
        self.round_trips = 0
        self.down = False

    # ----------------------------------------------------------------- faults
    def flush(self) -> None:
        self.hashes.clear()
        self.strings.clear()
        self.expiry.clear()

    def restart(self, *, keep_data: bool) -> None:
        if not keep_data:
            self.flush()
        self.run_id = uuid.uuid4().hex

    # ----------------------------------------------------------------- the contract
    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        self._answer()

    async def load_scripts(self) -> None:
        self._answer()

    async def node_ids(self) -> dict[str, str]:
        self._answer()
        return {"memory": self.run_id}

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        if not calls:
            return []
        epoch = writing_epoch(self)
        if epoch is None:
            raise StoreLost("the store's memory is not verified yet (or is being rebuilt)")
        self._answer()
        if {"memory": self.run_id} != self.identity:
            self.epoch = None
            raise StoreLost("the store restarted since it was verified")
        answers = []
        for call in calls:
            answer = SCRIPTS[call.script](self, list(call.keys),
                                          [str(a) for a in call.args], epoch)
            for key in call.keys:  # (Redis keeps no empty hash)
                if key in self.hashes and not self.hashes[key]:
                    self._delete(key)
            if answer == LOST:
                self.epoch = None
                raise StoreLost("a memory marker is missing: the store lost data")
            answers.append(answer)
        return answers

    async def read(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        self._answer()
        out: list[Any] = []
        for name, key, *rest in commands:
            data = self._hash(str(key))
            if name == "HGETALL":
                out.append(dict(data))
            elif name == "HGET":
                out.append(data.get(str(rest[0])))
            elif name == "HMGET":
                out.append([data.get(str(f)) for f in rest])
            elif name == "EXISTS":
                out.append(int(self._exists(str(key))))
            elif name == "TTL":
                out.append(self._ttl(str(key)))
            else:
                raise ValueError(f"MemoryStore does not answer {name}")
        return out

    async def meta(self) -> dict[str, str]:
        self._answer()
        return dict(self._hash(META_KEY))

    async def write_meta(self, mapping: dict[str, str]) -> None:
        self._answer()
        self.hashes.setdefault(META_KEY, {}).update(mapping)

    async def drop_meta(self) -> None:
        self._answer()
        self._delete(META_KEY)

    async def exists(self, key: str) -> bool:
        self._answer()
        return self._exists(key)

    async def set_keys(self, keys: Sequence[str]) -> None:
        self._answer()
        for key in keys:
            self.strings[key] = "1"

    async def delete_keys(self, keys: Sequence[str]) -> int:
        self._answer()
        return sum(1 for key in keys if self._delete(key))

    async def scan_keys(self) -> AsyncIterator[str]:
        self._answer()
        for key in [*self.hashes, *self.strings]:
            if fnmatch.fnmatchcase(key, PREFIX + "*") and self._exists(key):
                yield key

    async def acquire_lock(self, owner: str, seconds: int) -> bool:
        self._answer()
        if self._exists(LOCK_KEY):
            return False
        self.strings[LOCK_KEY] = owner
        self.expiry[LOCK_KEY] = self.clock() + seconds
        return True

    async def refresh_lock(self, owner: str, seconds: int) -> bool:
        self._answer()
        if self._exists(LOCK_KEY) and self.strings[LOCK_KEY] == owner:
            self.expiry[LOCK_KEY] = self.clock() + seconds
            return True
        return False

    async def release_lock(self, owner: str) -> None:
        self._answer()
        if self._exists(LOCK_KEY) and self.strings[LOCK_KEY] == owner:
            self._delete(LOCK_KEY)

    # ----------------------------------------------------------------- keys
    def _answer(self) -> None:
        self.round_trips += 1
        if self.down:
            raise StoreUnavailable("the in-memory store is down (a test's outage)")

    def _expired(self, key: str) -> bool:
        deadline = self.expiry.get(key)
        if deadline is not None and deadline <= self.clock():
            self._delete(key)
            return True
        return False

    def _exists(self, key: str) -> bool:
        return not self._expired(key) and (key in self.hashes or key in self.strings)

    def _hash(self, key: str) -> dict[str, str]:
        if self._expired(key):
            return {}
        return self.hashes.get(key, {})

    def _writable(self, key: str) -> dict[str, str]:
        self._expired(key)
        return self.hashes.setdefault(key, {})

    def _delete(self, key: str) -> bool:
        found = key in self.hashes or key in self.strings
        self.hashes.pop(key, None)
        self.strings.pop(key, None)
        self.expiry.pop(key, None)
        return found

    def _ttl(self, key: str) -> int:
        if not self._exists(key):
            return -2
        deadline = self.expiry.get(key)
        return -1 if deadline is None else int(deadline - self.clock())

    def _expire_at_least(self, key: str, ttl: float) -> None:
        if self._ttl(key) < ttl:
            self.expiry[key] = self.clock() + ttl

    def _marked(self, key: str, epoch: str) -> bool:
        return self._exists(marker_for(key, epoch, cluster=self.cluster))


# --------------------------------------------------------------------------- the scripts
def _words(items: Sequence[str]) -> str:
    return ",".join(items) if items else "-"


def _decide(store: MemoryStore, keys: list[str], argv: list[str], epoch: str) -> list[Any]:
    """decide.lua (see its header for KEYS/ARGV and the answers)."""
    if not store._marked(keys[0], epoch):
        return LOST
    argv = [*argv[:2], *argv[2].split()]  # (the third argument: the other words, as one)
    counters = store._writable(keys[0])
    generation, span = int(argv[6]), int(argv[7]) // 1000
    field = "r" + argv[8]
    record = counters.get(field)
    if record and stored_generation(record, span) >= generation - 1:
        return ["replay", record]
    state = store._hash(keys[1])
    version = state.get("v", "0")
    if version != argv[0]:
        return ["stale", version, *[x for item in state.items() for x in item]]
    now, spacing, last = float(argv[2]), float(argv[3]), counters.get("last")
    now_ms = to_ms(argv[2])
    passed = argv[1] == "decide"
    if spacing > 0 and last and now - int(last) / 1000 < spacing:
        passed = False
    out: list[Any] = ["", last or ""]
    counts: list[str] = []
    increments: list[str] = []
    releasable: list[str] = []
    at = 12
    for _ in range(int(argv[11])):
        limit, blocking, settled = float(argv[at]), argv[at + 1] == "1", argv[at + 2] == "1"
        k = int(argv[at + 3])
        fields = argv[at + 4:at + 4 + k]
        total = 0
        for name in fields:
            count = int(counters.get(name, 0))
            total += count
            out.append(count)
            counts.append(str(count))
        if blocking and total + 1 > limit:
            passed = False
        increments.append(fields[-1])
        if settled:
            releasable.append(fields[-1])
        at += 4 + k
    prune = argv[at + 1:at + 1 + int(argv[at])]
    at += 1 + int(argv[at])
    gap_times: list[str] = []
    for _ in range(int(argv[at])):
        seconds, blocking, name = int(argv[at + 1]), argv[at + 2] == "1", argv[at + 3]
        since = counters.get(name)
        if since and blocking and now_ms - int(since) < seconds * 1000:
            passed = False
        out.append(since or "")
        gap_times.append(base36(now_ms - int(since)) if since else "-")
        at += 3
    gap_writes = argv[at + 2:at + 2 + int(argv[at + 1])]
    if passed:
        for name in prune:
            counters.pop(name, None)
        for name in increments:
            counters[name] = str(int(counters.get(name, 0)) + 1)
        if not last or int(last) < now_ms:
            counters["last"] = str(now_ms)
        _set_later(counters, gap_writes, str(now_ms))
    else:
        releasable = []
    _new_generation(counters, generation, span)
    times = ",".join([base36(now_ms - int(last)) if last else "-", *gap_times])
    counters[field] = trim_words([("a" if passed else "b") + argv[9], _words(counts), times,
                                  argv[10], _words(releasable)])
    ttl = float(argv[5])
    if passed and float(argv[4]) > ttl:
        ttl = float(argv[4])
    store._expire_at_least(keys[0], ttl)
    out[0] = "allowed" if passed else "blocked"
    return out


def _set_later(counters: dict[str, str], names: Sequence[str], when: str) -> None:
    """Set each gap field to ``when`` unless a later time is there."""
    for name in names:
        since = counters.get(name)
        if not since or int(since) < int(when):
            counters[name] = when


def _new_generation(counters: dict[str, str], generation: int, span: int) -> None:
    if int(counters.get("g", "-1")) < generation:
        for name, value in list(counters.items()):
            if name.startswith("r") and stored_generation(value, span) < generation - 1:
                del counters[name]
        counters["g"] = str(generation)


def _settle(store: MemoryStore, keys: list[str], argv: list[str], epoch: str) -> list[Any]:
    """settle.lua."""
    if not store._marked(keys[0], epoch):
        return LOST
    counters = store._writable(keys[0])
    field = "r" + argv[1]
    record = counters.get(field)
    if record is None or stored_generation(record, int(argv[3]) // 1000) < int(argv[0]) - 1:
        return ["unknown"]
    parts = (record.split(" ") + ["-"] * 5)[:6]
    if parts[5] != "-":
        return ["settled", parts[5]]
    release = set(argv[5:5 + int(argv[4])])
    out: list[Any] = ["released"]
    if parts[4] != "-":
        for counted in parts[4].split(","):
            if counted.split("|", 1)[0] in release:
                left = int(counters.get(counted, 0)) - 1
                if left <= 0:
                    counters.pop(counted, None)
                else:
                    counters[counted] = str(left)
                out.append(counted)
    parts[5] = argv[2]
    counters[field] = " ".join(parts)
    return out


def _apply_state(store: MemoryStore, keys: list[str], argv: list[str], epoch: str
                 ) -> list[Any]:
    """apply_state.lua."""
    if not store._marked(keys[0], epoch):
        return LOST
    state = store._writable(keys[0])
    changed = False
    for i in range(int(argv[2])):
        name, value = argv[3 + 2 * i], argv[4 + 2 * i]
        current = state.get(name)
        current_ts, _, current_value = current.partition("|") if current else ("-1", "", "")
        ts = int(argv[1])
        if ts > int(current_ts) or (ts == int(current_ts) and value > current_value):
            state[name] = f"{argv[1]}|{value}"
            changed = True
    store.expiry[keys[0]] = store.clock() + float(argv[0])
    if changed:
        state["v"] = str(int(state.get("v", "0")) + 1)
    return [x for item in state.items() for x in item]


def _restore(store: MemoryStore, keys: list[str], argv: list[str], epoch: str) -> list[Any]:
    """restore.lua."""
    if not store._marked(keys[0], epoch):
        return LOST
    counters = store._writable(keys[0])
    generation = int(argv[0])
    field = "r" + argv[1]
    stored = counters.get(field)
    was = stored_generation(stored, int(argv[7]) // 1000) if stored else None
    if was == generation:
        return ["exists"]
    allowed = argv[3] == "1"
    if allowed:
        for name in argv[9:9 + int(argv[8])]:
            counters[name] = str(int(counters.get(name, 0)) + 1)
        last = counters.get("last")
        if not last or int(last) < int(argv[4]):
            counters["last"] = argv[4]
        gaps_at = 9 + int(argv[8])
        if len(argv) > gaps_at:
            _set_later(counters, argv[gaps_at + 1:gaps_at + 1 + int(argv[gaps_at])], argv[4])
    ttl = float(argv[6])
    if ttl > 0 and (was is None or was < generation):
        counters[field] = argv[2]
        if int(counters.get("g", "-1")) < generation:
            counters["g"] = str(generation)
    if allowed and float(argv[5]) > ttl:
        ttl = float(argv[5])
    if ttl > 0:
        store._expire_at_least(keys[0], ttl)
    return ["restored"]


SCRIPTS: dict[str, Callable[[MemoryStore, list[str], list[str], str], list[Any]]] = {
    "decide": _decide, "settle": _settle, "apply_state": _apply_state, "restore": _restore,
    "schedule": schedule}
