"""PURE: which offsets of the request topic may be committed, and when.

The hot loop (``stream/hotloop.py``) decides a batch, sends its outputs and goes on to the
next batch while the acknowledgements come in. Its batches finish in any order; their
offsets are committed in batch order, each only after every output of the batch (and of
every batch before it) was acknowledged.

A rebalance ends an *epoch*. A batch read in an epoch that has ended commits nothing: its
partitions may belong to another worker by now, which reads them again from the last
commit (its decisions are on record, so the replay emits them again, unchanged). Within an
epoch a commit never goes backwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Partition = Any  # aiokafka's TopicPartition (a named tuple); anything hashable here


@dataclass(frozen=True, slots=True)
class Read:
    """What a batch read: the next offset of every partition it read from, and the epoch."""

    epoch: int
    offsets: Mapping[Partition, int]


@dataclass(slots=True)
class Ledger:
    epoch: int = 0
    assigned: frozenset[Partition] = frozenset()
    committed: dict[Partition, int] = field(default_factory=dict)

    def read(self, records: Mapping[Partition, Iterable[Any]]) -> Read:
        """A batch as ``getmany`` returns it (partition -> records with ``.offset``)."""
        offsets = {}
        for tp, items in records.items():
            last = max((r.offset for r in items), default=None)
            if last is not None:
                offsets[tp] = last + 1
        return Read(self.epoch, offsets)

    def assign(self, partitions: Iterable[Partition]) -> None:
        self.assigned = frozenset(partitions)

    def revoke(self) -> None:
        """A rebalance begins: every batch read so far belongs to an ended epoch."""
        self.epoch += 1
        self.assigned = frozenset()
        self.committed = {}

    def committable(self, read: Read) -> dict[Partition, int]:
        """The offsets this batch may commit now: none from an ended epoch, none of a
        partition no longer assigned, none below what was committed already."""
        if read.epoch != self.epoch:
            return {}
        return {tp: offset for tp, offset in read.offsets.items()
                if tp in self.assigned and offset > self.committed.get(tp, -1)}

    def done(self, read: Read, offsets: Mapping[Partition, int]) -> None:
        """``offsets`` of ``read`` were committed."""
        if read.epoch != self.epoch:
            return
        for tp, offset in offsets.items():
            self.committed[tp] = max(offset, self.committed.get(tp, -1))
