"""The wire between the gate and the store: how a plan, an event or an outcome becomes a
script call (the ARGV layouts of ``lua/*.lua``), what the scripts answer, and the decision
record's words. Nothing outside ``counters/`` knows an ARGV position or a record word.

A decision record travels with the decision on ``contact.decisions`` (header ``gk-record``)
as space-separated words:

    status   a | b                      allowed or blocked
    time     epoch seconds, 3 decimals  when it was decided
    hash     10 hex                     the request's content hash (a reused id differs)
    counts   c1,c2,.. | -               every check's field counts, in plan order
    last     epoch seconds | -          the debtor's last contact then; when the plan has
             [,gap,gap..]               gap checks, followed by each one's last counted
                                        contact (epoch seconds or -), in plan order
    rules    code,code,.. | -           the plan's static blocking rules

and after them, for an allowed one, what it counted: the hashing key's id, the fields counted,
the fields an outcome may release, the gap fields it set (``-`` when none). A rebuild puts
the record back and counts those fields again; when the hashing key has changed since, it
plans the request again instead (the fields' names change with the key).

The debtor's hash keeps the same facts in fewer bytes (layout 2, ``keys.LAYOUT``), under
``r<request tag>``, as up to six words (trailing ``-`` words left out):

    head     status, the content hash in 7 base64url characters (its 40 bits), and the time
             in epoch milliseconds, base 36 (8 digits until 2059), with nothing between
    counts   c1,c2,.. | -
    times    the last contact and each gap's, as milliseconds before the time, base 36
             (a leading - when after it), or - when none
    rules    code,code,.. | -
    release  field,field,.. | -        counted fields an outcome may release
    outcome  outcome | -               set once by settle.lua

A record's generation (one spans the decision TTL) is its time // the TTL: the scripts look
a request up in the generation of now and the one before, and drop older records when a new
generation starts. Every value stays under Redis's 64-byte listpack limit in the usual case
(a longer one turns the debtor's whole hash into a hashtable: several times the bytes).
"""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from gatekeeper.counters.keys import counters_key, request_tag, rule_code, state_key
from gatekeeper.plan import Plan

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LOST = ["lost"]  # what every writing script answers when its memory marker is gone
ZONE_SKEW_DAYS = 2  # local dates of one instant differ by up to two days across zones


@dataclass(frozen=True, slots=True)
class Call:
    """One script call: which script, its keys and its arguments."""

    script: str
    keys: Sequence[str]
    args: Sequence[Any]


@dataclass(frozen=True, slots=True)
class Record:
    status: str  # "a" | "b"
    time: str  # epoch seconds with 3 decimals, as recorded
    content_hash: str
    counts: tuple[int, ...] | None  # None: not known (a record made without them)
    last: str | None  # epoch seconds with 3 decimals, as it travels
    rules: tuple[str, ...]  # rule codes
    gaps: tuple[str | None, ...] = ()  # each gap check's last counted contact, as stored
    key_id: str | None = None  # travelling only: the hashing key the fields below were made with
    counted: tuple[str, ...] = ()  # travelling only: the fields an allowed one counted
    releasable: tuple[str, ...] = ()  # travelling only: those an outcome may release
    gap_writes: tuple[str, ...] = ()  # travelling only: the gap fields it set

    @classmethod
    def parse(cls, text: str) -> Record:
        """The first six words of a stored or travelling record."""
        status, when, content, counts, last, rules = text.split(" ")[:6]
        times = [t if t != "-" else None for t in last.split(",")]
        return cls(status, when, content,
                   tuple(int(c) for c in counts.split(",")) if counts != "-" else None,
                   times[0], tuple(rules.split(",")) if rules != "-" else (), tuple(times[1:]))

    @classmethod
    def parse_stored(cls, text: str) -> Record:
        """The record of a stored text (layout 2), as it travels."""
        return read_stored(text)[0]

    @classmethod
    def parse_travelling(cls, text: str) -> Record:
        """A ``gk-record`` header: six words, and the counted fields when it carries them."""
        record = cls.parse(text)
        words = text.split(" ")
        if len(words) < 10:
            return record
        return dataclasses.replace(record, key_id=words[6], counted=_fields(words[7]),
                                   releasable=_fields(words[8]), gap_writes=_fields(words[9]))

    @property
    def decision(self) -> str:
        return "allowed" if self.status == "a" else "blocked"

    @property
    def last_contact(self) -> float | None:
        return float(self.last) if self.last is not None else None

    @property
    def gap_contacts(self) -> tuple[float | None, ...]:
        return tuple(float(t) if t is not None else None for t in self.gaps)

    @property
    def when(self) -> datetime:
        """The recorded evaluation time, exactly (to the millisecond)."""
        seconds, _, fraction = self.time.partition(".")
        return EPOCH + timedelta(seconds=int(seconds),
                                 milliseconds=int(fraction.ljust(3, "0")[:3]))

    def words(self) -> str:
        """The words that travel with the decision (six, and the counted fields when known)."""
        counts = ",".join(str(c) for c in self.counts) if self.counts is not None else "-"
        last = ",".join(t or "-" for t in (self.last, *self.gaps))
        six = " ".join((self.status, self.time, self.content_hash, counts or "-",
                        last, ",".join(self.rules) or "-"))
        if self.key_id is None:
            return six
        return " ".join((six, self.key_id, ",".join(self.counted) or "-",
                         ",".join(self.releasable) or "-", ",".join(self.gap_writes) or "-"))


def _fields(word: str) -> tuple[str, ...]:
    return tuple(word.split(",")) if word != "-" else ()


@dataclass(frozen=True, slots=True)
class Stored:
    """A decision record as the debtor's hash keeps it: the travelling words, and the two
    that stay in Redis."""

    record: Record
    releasable: tuple[str, ...]  # counted fields an outcome may release
    outcome: str | None  # the outcome that settled it, once reported


# --------------------------------------------------------------------------- stored records
B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
HEAD = 8  # status and content hash: the time starts after them


def base36(number: int) -> str:
    """``number`` in base 36 (lower case; a leading - when negative), as the scripts write."""
    digits, left = [], abs(number)
    while True:
        left, digit = divmod(left, 36)
        digits.append(B36[digit])
        if not left:
            break
    return ("-" if number < 0 else "") + "".join(reversed(digits))


def short_hash(content_hash: str) -> str:
    """A content hash (10 hex) as stored: its 40 bits in 7 base64url characters."""
    return base64.urlsafe_b64encode(bytes.fromhex(content_hash)).decode()[:7]


def _hex_hash(short: str) -> str:
    return base64.urlsafe_b64decode(short + "=").hex()


def _ms_text(ms: int) -> str:
    """Epoch milliseconds as the travelling words write times (seconds, 3 decimals)."""
    return f"{ms // 1000}.{ms % 1000:03d}"


def to_ms(seconds: str) -> int:
    """Epoch seconds (3 decimals) as whole milliseconds, as the scripts round them."""
    return math.floor(float(seconds) * 1000 + 0.5)


def stored_head(content_hash: str, time: str) -> str:
    """A stored record's head without its status (decide.lua puts the status first)."""
    return short_hash(content_hash) + base36(to_ms(time))


def stored_text(record: Record, releasable: Sequence[str], outcome: str | None = None) -> str:
    """A record as the debtor's hash keeps it (what decide.lua writes, for restore.lua)."""
    at = to_ms(record.time)
    times = ",".join("-" if t is None else base36(at - to_ms(t))
                     for t in (record.last, *record.gaps))
    counts = ",".join(str(c) for c in record.counts) if record.counts is not None else "-"
    return trim_words([record.status + stored_head(record.content_hash, record.time),
                       counts or "-", times, ",".join(record.rules) or "-",
                       ",".join(releasable) or "-", outcome or "-"])


def trim_words(words: Sequence[str]) -> str:
    """Words joined by spaces, without the trailing ``-`` ones (they are the default)."""
    end = len(words)
    while end > 1 and words[end - 1] == "-":
        end -= 1
    return " ".join(words[:end])


def read_stored(text: str) -> tuple[Record, tuple[str, ...], str | None]:
    """A stored record: the record as it travels, its releasable fields and its outcome."""
    head, *rest = text.split(" ")
    counts, times, rules, release, outcome = (*rest, "-", "-", "-", "-", "-")[:5]
    at = int(head[HEAD:], 36)
    found = [None if t == "-" else _ms_text(at - int(t, 36)) for t in times.split(",")]
    record = Record(head[0], _ms_text(at), _hex_hash(head[1:HEAD]),
                    tuple(int(c) for c in counts.split(",")) if counts != "-" else None,
                    found[0], tuple(rules.split(",")) if rules != "-" else (),
                    tuple(found[1:]))
    return record, _fields(release), outcome if outcome != "-" else None


def stored_generation(text: str, decision_seconds: int) -> int:
    """The generation of a stored record (its time // the decision TTL)."""
    return int(text.split(" ", 1)[0][HEAD:], 36) // (decision_seconds * 1000)


def current_record(text: str | None, now: datetime, decision_seconds: int) -> str | None:
    """A stored record if it is of the generation of ``now`` or the one before (the ones
    the scripts answer with), else None."""
    if not text or stored_generation(text, decision_seconds) < generation(now,
                                                                           decision_seconds) - 1:
        return None
    return text


def find_stored(fields: Mapping[str, str], tag: str) -> Stored | None:
    """The decision record of a request tag among a debtor's hash fields."""
    text = fields.get("r" + tag)
    if not text:
        return None
    record, releasable, outcome = read_stored(text)
    return Stored(record, releasable, outcome)


def generation(when: datetime, decision_seconds: int) -> int:
    """Records are kept by generation: one generation spans the decision TTL."""
    return int(when.timestamp()) // decision_seconds


# --------------------------------------------------------------------------- decide.lua
@dataclass(frozen=True, slots=True)
class Counted:
    """decide.lua counted (or refused) the request: its status, the debtor's last contact,
    every check's field counts, cut per check, and each gap check's last counted contact."""

    status: str  # allowed | blocked
    last: float | None
    counts: tuple[tuple[int, ...], ...]
    record: str  # the travelling words of the record it stored
    gaps: tuple[float | None, ...] = ()


@dataclass(frozen=True, slots=True)
class Replayed:
    record: Record


@dataclass(frozen=True, slots=True)
class Stale:
    state: dict[str, str]  # the debtor's current state hash


def decide_call(plan: Plan, content_hash: str, *, counters_ttl: int,
                decision_seconds: int) -> Call:
    """decide.lua's call: the state version and the mode, then every other argument as one
    string of words (one argument instead of ~25: less to pack, send and receive)."""
    request = plan.request
    rules = ",".join([rule_code(r.rule) for r in plan.blocking]) or "-"
    now = plan.now.timestamp()
    # a record lives until its generation has passed twice: one to two decision TTLs
    gen = int(now) // decision_seconds
    record_ttl = (gen + 2) * decision_seconds - int(now)
    time = f"{now:.3f}"
    words: list[str] = [
        time, str(plan.spacing_seconds), str(counters_ttl), str(record_ttl), str(gen),
        str(decision_seconds * 1000), request_tag(request.request_id),
        stored_head(content_hash, time), rules, str(len(plan.checks)),
    ]
    prune: list[str] = []
    check_blocked = plan.statically_blocked
    for check in plan.checks:
        fields = check.fields
        words += (str(check.limit), "0" if check.shadow else "1",
                  "1" if check.rule.params.get("counts") else "0", str(len(fields)))
        words += fields
        if not check_blocked:
            prune += stale_fields(check.increment, check.period, len(fields))
    words.append(str(len(prune)))
    words += prune
    words.append(str(len(plan.gaps)))
    for gap in plan.gaps:
        words += (str(gap.seconds), "0" if gap.shadow else "1", gap.field)
    words.append(str(len(plan.gap_writes)))
    words += plan.gap_writes
    return Call("decide", (counters_key(request.debtor_id), state_key(request.debtor_id)),
                (plan.state_version, "check" if check_blocked else "decide", " ".join(words)))


def decide_answer(plan: Plan, content_hash: str, answer: Sequence[Any], key_id: str
                  ) -> Counted | Replayed | Stale:
    kind = answer[0]
    if kind == "stale":
        return Stale(pairs(answer[2:]))
    if kind == "replay":
        return Replayed(Record.parse_stored(answer[1]))
    last = _ms_text(int(answer[1])) if answer[1] else None
    fields = sum(len(check.fields) for check in plan.checks)
    counts = split_counts(plan, answer[2:2 + fields])
    gaps = tuple(_ms_text(int(t)) if t else None
                 for t in answer[2 + fields:2 + fields + len(plan.gaps)])
    allowed = kind == "allowed"
    record = Record("a" if allowed else "b", f"{plan.now.timestamp():.3f}",
                    content_hash, tuple(c for check in counts for c in check),
                    last, tuple(rule_code(r.rule) for r in plan.blocking), gaps,
                    key_id if allowed else None,  # (a blocked one counted nothing)
                    counted_fields(plan) if allowed else (),
                    releasable_fields(plan) if allowed else (),
                    tuple(plan.gap_writes) if allowed else ())
    return Counted(str(kind), record.last_contact, counts, record.words(), record.gap_contacts)


def gap_contacts(plan: Plan, record: Record) -> tuple[float | None, ...]:
    """A record's gap times for ``plan``'s gap checks (none known when they do not fit the
    plan: the policy changed since it was recorded)."""
    if len(record.gaps) != len(plan.gaps):
        return (None,) * len(plan.gaps)
    return record.gap_contacts


def counted_fields(plan: Plan) -> tuple[str, ...]:
    """What decide.lua counts when it allows the plan's request."""
    return tuple(check.increment for check in plan.checks)


def releasable_fields(plan: Plan) -> tuple[str, ...]:
    """What an outcome may release of those (rules settled by outcomes)."""
    return tuple(check.increment for check in plan.checks if check.rule.params.get("counts"))


def split_counts(plan: Plan, counts: Sequence[Any]) -> tuple[tuple[int, ...], ...]:
    """A flat list of field counts, cut per check of ``plan`` (zeros when the list does not
    fit the plan: the policy changed since it was recorded)."""
    if len(counts) != sum(len(c.fields) for c in plan.checks):
        counts = [0] * sum(len(c.fields) for c in plan.checks)
    out, at = [], 0
    for check in plan.checks:
        out.append(tuple(int(c) for c in counts[at:at + len(check.fields)]))
        at += len(check.fields)
    return tuple(out)


@lru_cache(maxsize=16384)  # one per rule, scope and period: shared by a batch's requests
def stale_fields(increment: str, period: str, window_days: int) -> tuple[str, ...]:
    """Fields of the same rule and scope from periods that no window still covers, in any
    zone: one debtor's requests may be planned in zones whose local dates differ (UTC-12 to
    UTC+14), so a period is pruned only once it is out of reach from every one of them."""
    head, _, key = increment.rpartition("|")
    if period in ("day", "rolling"):
        last = int(key) - window_days - ZONE_SKEW_DAYS  # the newest day no window can reach
        return tuple(f"{head}|{n}" for n in range(last - 6, last + 1))
    if period == "week":
        week = int(key[1:])
        return (f"{head}|w{week - 2}", f"{head}|w{week - 3}")
    month = int(key[1:])
    return (f"{head}|m{month - 2}",)


# --------------------------------------------------------------------------- restore.lua
def restore_call(counted: Sequence[str], releasable: Sequence[str], gap_writes: Sequence[str],
                 debtor_id: str, request_id: str, record: Record, *, now: datetime,
                 counters_ttl: int, decision_seconds: int, grace: int) -> Call:
    """Put a recorded decision back: an allowed one counts ``counted`` again and sets the
    gap times ``gap_writes`` (as recorded, or as its plan at the recorded time says); a
    blocked one changes nothing but its record. A record too old to keep lives ``grace``
    seconds (outcomes replayed in the same rebuild settle it)."""
    allowed = record.status == "a"
    counted = list(counted) if allowed else []
    releasable = list(releasable) if allowed else []
    gap_writes = list(gap_writes) if allowed else []
    gen = generation(record.when, decision_seconds)
    record_ttl = (gen + 2) * decision_seconds - int(now.timestamp())
    return Call("restore", [counters_key(debtor_id)], [
        gen, request_tag(request_id), stored_text(record, releasable), 1 if allowed else 0,
        to_ms(record.time), counters_ttl, record_ttl if record_ttl > 0 else grace,
        decision_seconds * 1000, len(counted), *counted, len(gap_writes), *gap_writes])


def restore_answer(answer: Sequence[Any]) -> bool:
    """True when the record was put back; False when it was there already."""
    return bool(answer) and answer[0] == "restored"


# --------------------------------------------------------------------------- settle.lua
def settle_call(debtor_id: str, request_id: str, outcome: str, codes: Sequence[str], *,
                now: datetime, decision_seconds: int) -> Call:
    """Settle a reservation: release the counts of rules (``codes``) that do not count
    ``outcome``; the record is looked up in the generation of ``now`` and the one before."""
    return Call("settle", [counters_key(debtor_id)],
                [generation(now, decision_seconds), request_tag(request_id), outcome,
                 decision_seconds * 1000, len(codes), *codes])


# --------------------------------------------------------------------------- apply_state.lua
def state_call(debtor_id: str, when: datetime, fields: Sequence[tuple[str, str]], *,
               state_ttl: int) -> Call:
    args: list[Any] = [state_ttl, int(when.timestamp() * 1000), len(fields)]
    for name, value in fields:
        args += [name, value]
    return Call("apply_state", [state_key(debtor_id)], args)


def pairs(flat: Sequence[Any] | dict[str, str]) -> dict[str, str]:
    """HGETALL's flat [field, value, ...] answer (as Lua returns it) as a dict."""
    if isinstance(flat, dict):
        return flat
    return dict(zip(flat[0::2], flat[1::2], strict=True))
