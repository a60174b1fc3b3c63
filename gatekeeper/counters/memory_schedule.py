"""``lua/schedule.lua`` written again in Python for ``MemoryStore`` (its sorted sets are
kept as hashes of member -> score, sorted when read: the same answers, none of the speed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gatekeeper.counters.wire import LOST

if TYPE_CHECKING:
    from gatekeeper.counters.memory_store import MemoryStore


def _ordered(zset: dict[str, str], high: float) -> list[tuple[str, str]]:
    """(member, score) up to ``high``, by score then member (as ZRANGEBYSCORE)."""
    return sorted(((m, s) for m, s in zset.items() if float(s) <= high),
                  key=lambda item: (float(item[1]), item[0]))


def _score(value: str) -> str:
    return str(int(float(value))) if float(value).is_integer() else value


def schedule(store: MemoryStore, keys: list[str], argv: list[str], epoch: str) -> list[Any]:
    """schedule.lua."""
    if not store._marked(keys[0], epoch):
        return LOST
    queue, entries, done, times = (store._writable(k) for k in keys[:4])
    op, args = argv[0], argv[1:]

    def remove(request_id: str) -> None:
        member = entries.get("m:" + request_id)
        if member is not None:
            queue.pop(member, None)
        for name in (request_id, "a:" + request_id, "m:" + request_id, "l:" + request_id):
            entries.pop(name, None)

    def finished(request_id: str, how: str, now: float, keep: float) -> None:
        remove(request_id)
        done[request_id] = how
        times[request_id] = _score(str(now))
        for old, _ in _ordered(times, now - keep)[:100]:
            done.pop(old, None)
            times.pop(old, None)

    if op == "park":
        request_id, order, until, attempt, entry = args[:5]
        if request_id in done:
            return ["finished", done[request_id]]
        if "a:" + request_id in entries:
            return ["parked", entries["a:" + request_id]]
        member = f"{order}:{request_id}"
        queue[member] = _score(until)
        entries.update({request_id: entry, "a:" + request_id: attempt,
                        "m:" + request_id: member})
        return ["parked", attempt]
    if op == "repark":
        request_id, attempt, until, entry = args[:4]
        if entries.get("a:" + request_id) != attempt:
            return ["gone"]
        queue[entries["m:" + request_id]] = _score(until)
        entries.update({request_id: entry, "a:" + request_id: str(int(attempt) + 1)})
        entries.pop("l:" + request_id, None)
        return ["parked", str(int(attempt) + 1)]
    if op == "due":
        now, limit = float(args[0]), int(args[1])
        out: list[Any] = [len(queue)]
        for member, score in _ordered(queue, now)[:limit * 2]:
            request_id = member.split(":", 1)[1]
            lease = entries.get("l:" + request_id)
            if lease is None or float(lease) <= now:
                out += [request_id, entries["a:" + request_id], score, entries[request_id]]
                if len(out) > limit * 4:
                    break
        return out
    if op == "claim":
        request_id, attempt, now_ms, lease_ms = args[:4]
        if entries.get("a:" + request_id) != attempt:
            return ["gone"]
        entries["l:" + request_id] = _score(str(float(now_ms) + float(lease_ms)))
        return ["claimed"]
    if op == "finish":
        request_id, attempt, how, now_ms, keep = args[:5]
        if entries.get("a:" + request_id) != attempt:
            return ["gone"]
        finished(request_id, how, float(now_ms), float(keep))
        return ["done"]
    if op == "cancel":
        request_id, now_ms, keep = args[:3]
        if request_id in done:
            return ["finished", done[request_id]]
        if "a:" + request_id not in entries:
            return ["unknown"]
        lease = entries.get("l:" + request_id)
        if lease is not None and float(lease) > float(now_ms):
            return ["sending"]
        finished(request_id, "cancelled", float(now_ms), float(keep))
        return ["cancelled"]
    raise ValueError(f"schedule.lua: unknown operation {op}")
