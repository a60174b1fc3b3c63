"""The one key builder. Every key of a debtor starts ``gk:{<debtor>}:`` so that all of
them share one Redis Cluster slot; phone numbers and addresses appear only as keyed hashes.

    gk:{d}:c   hash   counters "<rule>|<scope>|<period>" -> count, "last" -> epoch ms (an
                      integer: Redis keeps it in 8 bytes), gap times
                      "t:<rule>[:<destination hash>]" -> epoch ms (min_gap),
                      decision records "r<request tag>" -> record (``wire.py``: its
                      generation is its time // the decision TTL), "g" -> the newest
                      generation written
    gk:{d}:s   hash   state: "v" -> version, "<field>" -> "<epoch ms>|<value>"
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

PREFIX = "gk:"
# The layout of the keys above and of the records in them. The meta hash names the layout a
# store was built in (guard.py): a store of another layout is rebuilt from the record, never
# read. 1: records under "r<generation>:<12 hex>" in eight words, contact times in epoch
# seconds with 3 decimals; 2: the compact records of wire.py under "r<8 base64url>", contact
# times in epoch ms, one marker on a single node (issue 13's memory target).
LAYOUT = "2"


def debtor_tag(debtor_id: str) -> str:
    """The hash tag of a debtor. Ids with braces would break the tag: they are hashed."""
    if "{" in debtor_id or "}" in debtor_id:
        return "~" + hashlib.sha1(debtor_id.encode()).hexdigest()
    return debtor_id


def debtor_prefix(debtor_id: str) -> str:
    return f"{PREFIX}{{{debtor_tag(debtor_id)}}}:"


def counters_key(debtor_id: str) -> str:
    return debtor_prefix(debtor_id) + "c"


def state_key(debtor_id: str) -> str:
    return debtor_prefix(debtor_id) + "s"


def request_tag(request_id: str) -> str:
    """A short, fixed-size stand-in for a request id in a debtor's hash: 48 bits in 8
    base64url characters (within one debtor and two generations a collision is out of
    reach)."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode()


def record_field(request_id: str) -> str:
    """A decision record's field in the debtor's hash (one per request id: a record of an
    older generation is overwritten when the id is decided again)."""
    return "r" + request_tag(request_id)


def stored_seconds(value: str) -> float:
    """A contact time of a debtor's hash ("last", "t:..."; epoch ms) in epoch seconds."""
    return int(value) / 1000


def is_record_field(name: str) -> bool:
    """Is a field of a debtor's hash a decision record? (counters start with a hex rule
    code, gap fields with ``t:``; the others are ``last`` and ``g``)"""
    return name[:1] == "r" and len(name) == 9


@lru_cache(maxsize=4096)  # a policy's few rule names, asked for with every request
def rule_code(rule_name: str) -> str:
    """A short, stable code of a rule name for counter field names."""
    return hashlib.sha1(rule_name.encode()).hexdigest()[:6]


def key_id(hashing_key: bytes) -> str:
    """A short, non-secret id of a hashing key: the names it made carry it (the meta hash,
    the counted fields recorded with a decision), so a change of key is noticed."""
    return hmac.new(hashing_key, b"gatekeeper hashing key id", hashlib.sha256).hexdigest()[:12]


class Hasher:
    """Keyed hashes of personal data (phone numbers, addresses) for keys and logs."""

    def __init__(self, key: bytes):
        self._key = key
        self.key_id = key_id(key)
        self._destinations = lru_cache(maxsize=262144)(self._destination)
        self._values = lru_cache(maxsize=262144)(self._value)

    def __repr__(self) -> str:
        return "Hasher(<key hidden>)"

    def destination(self, channel: str, destination: str) -> str:
        return self._destinations(channel, destination)

    def value(self, text: str) -> str:
        return self._values(text)

    def _destination(self, channel: str, destination: str) -> str:
        normal = destination.strip().lower() if channel == "email" else destination.strip()
        kind = "phone" if channel in ("call", "sms") else channel
        return hmac.digest(self._key, f"{kind}:{normal}".encode(), "sha256").hex()[:16]

    def _value(self, text: str) -> str:
        return hmac.digest(self._key, text.encode(), "sha256").hex()[:16]


# --------------------------------------------------------------------------- the store's memory
# Redis is the working copy; Kafka holds the record. These keys let the gate notice that the
# working copy lost something (see gatekeeper/counters/guard.py):
#
#     gk:{~meta}:m          hash   the store's identity: epoch, the run ids of its nodes when it
#                                  was last verified, the hashing key's id, when it was built
#     gk:{~meta}:lock       string the rebuild lock (owner token, with an expiry)
#     gk:{<slot tag>}:m:<epoch>    one marker per Redis Cluster slot: every script that writes
#                                  a debtor's keys checks, in the same atomic step, that the
#                                  marker of the debtor's slot exists; a flush, or an empty
#                                  restart, removes it, and the script refuses to write. One
#                                  Redis node (no cluster) loses its keys all at once: it keeps
#                                  one marker, slot 0's, for every key (16,383 keys fewer:
#                                  ~1.6 MB; since layout 2).
META_KEY = PREFIX + "{~meta}:m"
LOCK_KEY = PREFIX + "{~meta}:lock"
SLOTS = 16384


def key_slot(tag: str) -> int:
    """The Redis Cluster slot of a hash tag (CRC16/XMODEM of the tag, mod 16384)."""
    from binascii import crc_hqx

    return crc_hqx(tag.encode(), 0) % SLOTS


@lru_cache(maxsize=1)
def _slot_tags() -> tuple[str, ...]:
    """For every slot, a short tag that hashes to it (``slot_tags.txt``, line = slot; made
    once by searching ``~m<n>~`` tags; a unit test checks every line)."""
    from importlib import resources

    text = resources.files("gatekeeper.counters").joinpath("slot_tags.txt").read_text()
    return tuple(text.split())


def marker_key(slot: int, epoch: str) -> str:
    return f"{PREFIX}{{{_slot_tags()[slot]}}}:m:{epoch}"


def marker_slots(cluster: bool) -> range:
    """The slots that have a marker: every slot on a Redis Cluster, slot 0 on one node."""
    return range(SLOTS) if cluster else range(1)


def marker_for(key: str, epoch: str, *, cluster: bool) -> str:
    """The marker of the slot a debtor key (``gk:{<tag>}:...``) lives in (one node: the
    one marker)."""
    if not cluster:
        return marker_key(0, epoch)
    tag = key[key.index("{") + 1:key.index("}")]
    return marker_key(key_slot(tag), epoch)


# --------------------------------------------------------------------------- the deferral schedule
# One schedule per partition of the request topic, each on the slot of its own tag (so a Redis
# Cluster spreads them, and a worker touches only the schedules of its partitions):
#
#     gk:{~q<p>}:z   zset   parked requests: member "<order>:<request id>" (order: the request's
#                           offset, 16 hex digits, so that equal times release in request
#                           order), score deferred_until in epoch ms
#     gk:{~q<p>}:p   hash   "<request id>" -> the entry (JSON), "a:<id>" its attempt, "m:<id>" its
#                           member, "l:<id>" the end of a release's claim (epoch ms)
#     gk:{~q<p>}:x   hash   "<request id>" -> "<how>" for finished ones (released, reviewed,
#                           cancelled, expired): a replay of the request never parks it again
#     gk:{~q<p>}:t   zset   the finished ones by time, to forget them after the decision TTL
def schedule_keys(partition: int) -> tuple[str, str, str, str]:
    prefix = f"{PREFIX}{{~q{partition}}}:"
    return prefix + "z", prefix + "p", prefix + "x", prefix + "t"
