"""The invariant checker: read the input topic and the three outputs, report violations.

1. Every message read leaves on exactly one of allowed / review / invalid (a replay may emit
   a message again, but only with the identical decision), and nothing leaves that was not
   read.
2. No limit of the policy is exceeded per debtor, debt, destination and window (recounted
   from the allowed messages at their ``gk-evaluated-at``; rules settled by outcomes are
   left out, since the reservations they release are not visible here).
3. Nothing was allowed outside the allowed hours in the debtor's zones.
4. Allowed values are byte-identical to the input.
5. No opt-out, status, cool-down or missing opt-in that the debtor's events had put in force
   before the request was produced (broker timestamps) was ignored: see
   ``gatekeeper.invariant_events`` (read from ``debtor.events`` when given).

Deferral (read from ``contact.deferred`` when given): a cancel on the input topic is not a
request; a request announced there and not decided since is parked, not lost; one a cancel
withdrew (``found: cancelled``) is not lost, and must never be allowed.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from gatekeeper.counters.keys import Hasher
from gatekeeper.errors import InvalidInput
from gatekeeper.invariant_events import check_bound
from gatekeeper.kafka_security import kafka_options
from gatekeeper.model import DebtorState
from gatekeeper.plan import make_plan
from gatekeeper.policy.model import Policy
from gatekeeper.timeutil import parse_rfc3339
from gatekeeper.validate import parse_request

MAX_LISTED = 20


@dataclass(frozen=True, slots=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp: int = 0  # broker timestamp, ms


@dataclass
class Report:
    inputs: int = 0
    allowed: int = 0
    review: int = 0
    invalid: int = 0
    duplicates: int = 0
    events: int = 0
    bound: int = 0  # allowed requests with events of their debtor before them (checked)
    parked: int = 0  # deferred, not decided yet (or withdrawn by a cancel)
    violations: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.violations

    def add(self, kind: str, message: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= MAX_LISTED:
            self.violations.append(f"{kind}: {message}")
        elif self.counts[kind] == MAX_LISTED + 1:
            self.violations.append(f"{kind}: ... (more not listed)")

    def summary(self) -> str:
        lines = [f"inputs {self.inputs}: allowed {self.allowed}, review {self.review}, "
                 f"invalid {self.invalid} (re-emitted duplicates {self.duplicates}); "
                 f"events {self.events}, allowed requests after events of their debtor "
                 f"{self.bound}; parked {self.parked}"]
        if self.ok:
            lines.append("no violations: nothing lost, nothing doubled, no limit exceeded, "
                         "nothing allowed out of hours, allowed bytes unchanged, no opt-out "
                         "or status ignored")
        else:
            lines.append("VIOLATIONS: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()))
            lines += ["  " + v for v in self.violations]
        return "\n".join(lines)


def check(inputs: Sequence[Record], allowed: Sequence[Record], review: Sequence[Record],
          invalid: Sequence[Record], policy: Policy, input_topic: str,
          events: Sequence[Record] = (), deferred: Sequence[Record] = ()) -> Report:
    report = Report(len(inputs), len(allowed), len(review), len(invalid), events=len(events))
    announced, withdrawn = _deferral(deferred)
    cancels = 0
    invalid_sources: Counter[tuple[int, int]] = Counter()
    for record in invalid:
        source = orjson.loads(record.value or b"{}").get("source", {})
        if source.get("topic") == input_topic:
            invalid_sources[(source["partition"], source["offset"])] += 1

    values_by_id: dict[str, set[bytes]] = defaultdict(set)
    requested_at: dict[str, int] = {}  # request id -> broker timestamp of its first copy
    for record in inputs:
        if (record.partition, record.offset) in invalid_sources:
            continue
        try:
            request = parse_request(record.value)  # type: ignore[arg-type]
        except InvalidInput as error:
            if _is_cancel(record.value):
                cancels += 1
                continue
            report.add("lost", f"malformed input {record.partition}@{record.offset} is not on "
                               f"the invalid topic ({error.message})")
            continue
        values_by_id[request.request_id].add(record.value or b"")
        first = requested_at.get(request.request_id)
        requested_at[request.request_id] = record.timestamp if first is None \
            else min(first, record.timestamp)

    fates: dict[str, set[str]] = defaultdict(set)
    decision_ids: dict[str, set[str]] = defaultdict(set)
    first_allowed: dict[str, Record] = {}
    for record in allowed:
        request_id = _request_id(record.value)
        fates[request_id].add("allowed")
        decision_ids[request_id].add(dict(record.headers).get("gk-decision-id", b"").decode())
        if record.value not in values_by_id.get(request_id, ()):
            report.add("unchecked", f"allowed message for {request_id!r} is not an input "
                                    "message byte for byte")
        first_allowed.setdefault(request_id, record)
    for record in review:
        body = orjson.loads(record.value or b"{}")
        request_id = str(body.get("request", {}).get("request_id"))
        fates[request_id].add("review")
        decision_ids[request_id].add(str(body.get("decision", {}).get("decision_id")))

    for request_id, where in fates.items():
        if request_id not in values_by_id:
            report.add("unchecked", f"{request_id!r} left on {', '.join(where)} but was never "
                                    "a valid input")
        if len(where) > 1:
            report.add("doubled", f"{request_id!r} left on both allowed and review")
        if request_id in withdrawn and "allowed" in where:
            report.add("cancelled", f"{request_id!r} was allowed after a cancel withdrew it")
        if len(decision_ids[request_id]) > 1:
            report.add("doubled", f"{request_id!r} got different decisions "
                                  f"{sorted(decision_ids[request_id])}")
    for request_id in values_by_id:
        if request_id not in fates:
            if request_id in announced or request_id in withdrawn:
                report.parked += 1
                continue
            report.add("lost", f"{request_id!r} was read but left on no output topic")
    outputs = len(allowed) + len(review) + sum(invalid_sources.values()) + cancels + \
        report.parked
    report.duplicates = max(0, outputs - len(inputs))
    if outputs < len(inputs):
        report.add("lost", f"{len(inputs)} inputs but only {outputs} outputs")

    _check_limits_and_hours(report, first_allowed.values(), policy)
    if events:
        report.bound = check_bound(report, list(first_allowed.values()), requested_at, events,
                                   policy)
    return report


def _is_cancel(value: bytes | None) -> bool:
    try:
        body = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and "cancel" in body


def _deferral(deferred: Sequence[Record]) -> tuple[set[str], set[str]]:
    """The request ids announced as parked, and those a cancel withdrew."""
    announced: set[str] = set()
    withdrawn: set[str] = set()
    for record in deferred:
        body = orjson.loads(record.value or b"{}")
        if "cancel" in body:
            if body.get("found") == "cancelled":
                withdrawn.add(str(body["cancel"]))
        else:
            announced.add(str(body.get("request", {}).get("request_id")))
    return announced, withdrawn


def _request_id(value: bytes | None) -> str:
    try:
        return str(orjson.loads(value or b"{}").get("request_id"))
    except orjson.JSONDecodeError:
        return "<not JSON>"


def _check_limits_and_hours(report: Report, allowed: Iterable[Record], policy: Policy) -> None:
    hasher = Hasher(b"invariant-checker")
    counts: Counter[tuple[str, str]] = Counter()
    windows: list[tuple[str, str, tuple[str, ...], int]] = []
    for record in allowed:
        request = parse_request(record.value)  # type: ignore[arg-type]
        evaluated = dict(record.headers).get("gk-evaluated-at")
        if evaluated is None:
            report.add("unchecked", f"allowed {request.request_id!r} has no gk-evaluated-at")
            continue
        plan = make_plan(request, policy, DebtorState(), parse_rfc3339(evaluated.decode()),
                         hasher)
        for reason in plan.blocking:
            if reason.kind == "hours":
                report.add("hours", f"{request.request_id!r} allowed at {evaluated.decode()}: "
                                    f"{reason.message}")
        for check in plan.checks:
            if check.shadow or check.rule.params.get("counts"):
                continue
            counts[(request.debtor_id, check.increment)] += 1
            windows.append((request.debtor_id, check.rule.name, check.fields, check.limit))
    for debtor, rule, fields, limit in set(windows):
        total = sum(counts[(debtor, f)] for f in fields)
        if total > limit:
            report.add("limit", f"{rule}: debtor {debtor!r} counted {total} in one window "
                                f"(limit {limit})")


async def read_topic(bootstrap: str, topic: str, timeout: float = 60.0) -> list[Record]:
    """Every record of ``topic`` up to its current end."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **kafka_options())
    try:
        await consumer.start()
        await asyncio.sleep(0)
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Record] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            if loop.time() > deadline:
                raise TimeoutError(f"reading {topic} took longer than {timeout}s")
            batches = await consumer.getmany(timeout_ms=500, max_records=10000)
            for records in batches.values():
                out += [Record(r.partition, r.offset, r.key, r.value, tuple(r.headers or ()),
                               r.timestamp) for r in records]
        return out
    finally:
        await consumer.stop()


async def check_topics(bootstrap: str, topics: dict[str, str], policy: Policy) -> Report:
    inputs, allowed, review, invalid, events, deferred = [
        await read_topic(bootstrap, topics[k])
        for k in ("requests", "allowed", "review", "invalid", "events", "deferred")]
    return check(inputs, allowed, review, invalid, policy, topics["requests"], events, deferred)


def describe_counts(report: Report) -> dict[str, Any]:
    return {"inputs": report.inputs, "allowed": report.allowed, "review": report.review,
            "invalid": report.invalid, "duplicates": report.duplicates,
            "events": report.events, "bound": report.bound, "parked": report.parked,
            "violations": dict(report.counts)}
