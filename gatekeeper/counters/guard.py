"""The store's memory: notice that Redis lost data, and mark a rebuilt store as trusted.

Redis is the working copy; Kafka holds the record. A copy is trusted while

* the meta hash ``gk:{~meta}:m`` names its ``epoch`` and the run id of every primary node
  as they were when it was built or last verified, and those run ids still hold (a restart,
  a failover to a replica, or a restore of an old snapshot changes them), and
* the marker of every slot for that epoch exists (a ``FLUSHALL`` or an empty restart removes
  them; each writing script checks its debtor's marker in the same atomic step), and
* it was built with the hashing key in use (the key's id is in the meta hash), and
* it was built in the layout this version reads (``keys.LAYOUT``: a store of an older
  version's layout is never read as if it were of this one).

Anything else is a loss: the gate holds, rebuilds from Kafka (``gatekeeper.restore``), and
decides again only then. A rebuild first removes the meta hash and the old markers (so no
worker writes any more), wipes every ``gk:`` key, creates the markers of a new epoch, replays
the record, and writes the meta hash last. A lock keeps two rebuilders apart.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from gatekeeper.counters.contract import REBUILDING
from gatekeeper.counters.contract import StoreContract as Store
from gatekeeper.counters.keys import LAYOUT, LOCK_KEY, SLOTS, marker_key, marker_slots
from gatekeeper.counters.keys import key_id as key_id  # (re-exported: the id in the meta hash)
from gatekeeper.errors import StoreUnavailable

LOCK_SECONDS = 30


@dataclass(frozen=True, slots=True)
class Meta:
    epoch: str
    nodes: dict[str, str]
    key_id: str
    built_at: float
    stats: dict[str, Any]
    layout: str = "1"  # (a meta hash without one was written before layouts were named)


@dataclass(frozen=True, slots=True)
class Verdict:
    """``trusted``: the copy may be used. Otherwise ``reason`` says why not, and
    ``rebuild`` whether this worker should rebuild it (False: hold, another must)."""

    trusted: bool
    reason: str = ""
    rebuild: bool = True


async def read_meta(store: Store) -> Meta | None:
    data = await store.meta()
    if not data:
        return None
    try:
        return Meta(epoch=data["epoch"], nodes=json.loads(data["nodes"]), key_id=data["key_id"],
                    built_at=float(data["built_at"]), stats=json.loads(data.get("stats", "{}")),
                    layout=data.get("layout", "1"))
    except (KeyError, ValueError):
        return None  # a damaged meta hash is no proof of anything


async def verify(store: Store, hashing_key_id: str, started_at: float) -> Verdict:
    """Is the working copy trusted? When it is, ``store`` is set to use it."""
    meta = await read_meta(store)
    if meta is None:
        return Verdict(False, "Redis has no memory marker: it is empty after a restart "
                              "without persistence, a flush, or it was never built")
    ids = await store.node_ids()
    if ids != meta.nodes:
        return Verdict(False, "a Redis node restarted or failed over since the store was "
                              "built (run ids changed): its copy may be older than the record")
    if meta.key_id != hashing_key_id:
        if meta.built_at >= started_at:
            return Verdict(False, "the store was built with another hashing key, after this "
                                  "worker started: this worker holds (restart it with the key "
                                  "in use)", rebuild=False)
        return Verdict(False, "the hashing key changed (GATEKEEPER_HASH_KEY): every hashed "
                              "name is rebuilt from the record with the new key")
    if meta.layout != LAYOUT:
        return Verdict(False, f"the store is in layout {meta.layout} (written by an older "
                              f"version); this version reads layout {LAYOUT}: it is rebuilt "
                              "from the record")
    slots = marker_slots(store.cluster)
    probe = [marker_key(slot, meta.epoch) for slot in {slots[0], slots[len(slots) // 2],
                                                       slots[-1]}]
    for key in probe:
        if not await store.exists(key):
            return Verdict(False, "memory markers are missing: Redis lost part of its data")
    store.identity = ids
    store.epoch = meta.epoch
    return Verdict(True)


async def begin_rebuild(store: Store) -> str:
    """Stop every writer, wipe the working copy, and start a new epoch; return it. The
    calling task writes into the new epoch (``contract.REBUILDING``: its own writes stay
    guarded, a loss during the rebuild stops it); every other task holds until
    ``finish_rebuild``."""
    meta = await read_meta(store)
    await store.drop_meta()
    store.epoch = None
    if meta is not None:  # the markers first: no worker of the old epoch writes after this
        # (every slot's: a store of layout 1 had one on every slot of one node too)
        await store.delete_keys([marker_key(slot, meta.epoch) for slot in range(SLOTS)])
    await wipe(store)
    epoch = uuid.uuid4().hex[:12]
    await store.set_keys([marker_key(slot, epoch) for slot in marker_slots(store.cluster)])
    store.identity = await store.node_ids()
    REBUILDING.set(epoch)
    return epoch


async def finish_rebuild(store: Store, epoch: str, hashing_key_id: str,
                         stats: dict[str, Any]) -> None:
    """Mark the rebuilt copy as trusted (the meta hash is written last); every task of the
    process may write again."""
    ids = await store.node_ids()
    if ids != store.identity:
        raise StoreUnavailable("a Redis node restarted during the rebuild; rebuilding again")
    await _write_meta(store, epoch, hashing_key_id, ids, stats)
    REBUILDING.set(None)
    store.epoch = epoch


def abandon_rebuild(store: Store) -> None:
    """A rebuild failed: nothing writes until the next one (or a verification)."""
    REBUILDING.set(None)
    store.epoch = None


async def _write_meta(store: Store, epoch: str, hashing_key_id: str, ids: dict[str, str],
                      stats: dict[str, Any]) -> None:
    await store.write_meta({
        "epoch": epoch, "nodes": json.dumps(ids, sort_keys=True), "key_id": hashing_key_id,
        "layout": LAYOUT, "built_at": f"{time.time():.3f}",
        "stats": json.dumps(stats, sort_keys=True)})


async def wipe(store: Store) -> int:
    """Delete every key of the gatekeeper but the rebuild lock; return how many."""
    deleted = 0
    batch: list[str] = []
    async for key in store.scan_keys():
        if key == LOCK_KEY:
            continue
        batch.append(key)
        if len(batch) >= 1000:
            deleted += await store.delete_keys(batch)
            batch = []
    if batch:
        deleted += await store.delete_keys(batch)
    return deleted


async def acquire_lock(store: Store, owner: str) -> bool:
    return await store.acquire_lock(owner, LOCK_SECONDS)


async def refresh_lock(store: Store, owner: str) -> bool:
    return await store.refresh_lock(owner, LOCK_SECONDS)


async def release_lock(store: Store, owner: str) -> None:
    await store.release_lock(owner)
