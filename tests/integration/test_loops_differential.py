"""Differential test of the request loops: the same mixed history through a worker on the
old faust-agent loop (``GATEKEEPER_REQUEST_LOOP=faust``) and one on the aiokafka hot loop,
side by side (each with its own topics, consumer groups and Redis database), and every
decision compared.

The history comes in rounds: debtor events and outcomes first (both workers' control
agents commit them before the round goes on: whether an outcome settled before a request
was counted must not depend on timing), then requests, malformed messages, re-sends (a
replay gets its first decision back) and a request id reused with other content. The
workers run at the same time, so they decide at nearly the same wall-clock time; what the
exact instant changes (decision ids, evaluation times, and the wording and retry time of a
spacing rule, which count from the last contact's instant) is left out of the comparison.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import kafka_helpers
import orjson
import redis
from fault_harness import FAULT_PACK, stream, wait_outputs
from worker_process import WorkerProcess, worker_env

from gatekeeper import traffic

ROUNDS = 4
REQUESTS_PER_ROUND = 700
PACK = FAULT_PACK.replace("""    max: 5
    window: {rolling_days: 7}
    per: [debt]""", """    max: 5
    window: {rolling_days: 7}
    per: [debt]
    counts: [no_answer, voicemail, conversation]""") + """
  - id: cease-and-attorney
    kind: status
    citation: test
    statuses: [cease, attorney_represented]
  - id: hardship-spacing
    kind: spacing
    citation: test
    min_days: 14
    when: hardship
  - id: written-content
    kind: content
    citation: test
    channels: [letter]
    fields: [amount_due, due_date]
"""
LOOPS = ("faust", "aiokafka")
INPUTS = ("contact.requests", "debtor.events", "contact.outcomes")
OUTPUTS = ("contact.allowed", "contact.review", "contact.invalid", "contact.decisions")


def other_database(url: str) -> str:
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    other = urlunsplit((parts.scheme, parts.netloc, f"/{db % 15 + 1}", parts.query,
                        parts.fragment))
    client = redis.Redis.from_url(other)
    try:
        client.flushdb()
    finally:
        client.close()
    return other


def comparable(decision: dict[str, Any]) -> dict[str, Any]:
    """A decision without what depends on the exact instant it was made."""
    spacing = any(r["kind"] == "spacing" for r in decision["reasons"])
    reasons = [{k: v for k, v in r.items()
                if r["kind"] != "spacing" or k not in ("message", "retry_at")}
               for r in decision["reasons"]]
    return {"request_id": decision["request_id"], "decision": decision["decision"],
            "reasons": reasons, "shadow": [r["rule"] for r in decision["shadow"]],
            "policy": decision["policy"],
            "retry_at": None if spacing else decision["retry_at"]}


async def read_all(bootstrap: str, topic: str, n: int) -> list[Any]:
    records = await kafka_helpers.consume(bootstrap, topic, n, timeout=60)
    assert len(records) == n, f"{topic}: {len(records)} of {n}"
    return records


async def test_old_and_new_loops_make_the_same_decisions(
        tmp_path: Path, app_id: str, redis_url: str, stack: Any, bootstrap: str,
        create_topics: Any) -> None:
    policy = tmp_path / "diff.yaml"
    policy.write_text(PACK)
    prefixes = {loop: f"{app_id}-{loop}." for loop in LOOPS}
    databases = {"faust": redis_url, "aiokafka": other_database(redis_url)}
    for prefix in prefixes.values():
        await create_topics(*[prefix + t for t in INPUTS + OUTPUTS[:3]], partitions=4)
    workers = {}
    for loop in LOOPS:
        env = worker_env(stack.broker_url, databases[loop], prefixes[loop], f"{app_id}-{loop}",
                         policy, "diff-key", partitions="4", batch_size="100",
                         request_loop=loop)
        workers[loop] = WorkerProcess(tmp_path / f"{loop}.log", env)
    try:
        for worker in workers.values():
            worker.start()
        await replay_history(bootstrap, prefixes, workers)
    finally:
        for worker in workers.values():
            worker.stop()

    decided = {}
    for loop, prefix in prefixes.items():
        total = ROUNDS * REQUESTS_PER_ROUND
        outputs = await kafka_helpers.end_offsets(bootstrap, prefix + "contact.invalid")
        invalid = sum(outputs.values())
        records = await read_all(bootstrap, prefix + "contact.decisions", total - invalid)
        seen: dict[str, int] = {}
        by_request = {}
        for record in records:
            decision = orjson.loads(record.value)["decision"]
            n = seen[decision["request_id"]] = seen.get(decision["request_id"], 0) + 1
            by_request[(decision["request_id"], n)] = comparable(decision)
        dead = await read_all(bootstrap, prefix + "contact.invalid", invalid)
        letters = sorted((orjson.loads(r.value)["source"]["partition"],
                          orjson.loads(r.value)["source"]["offset"],
                          orjson.loads(r.value)["error"]["field"]) for r in dead)
        decided[loop] = (by_request, letters)
    old, new = decided["faust"], decided["aiokafka"]
    assert len(old[0]) > ROUNDS * REQUESTS_PER_ROUND * 0.9
    assert {d["decision"] for d in old[0].values()} == {"allowed", "blocked"}
    assert any(n > 1 for _, n in old[0])  # re-sends were replayed
    assert old[1] and old[1] == new[1]  # the same messages dead-lettered, for the same field
    differing = [key for key in old[0] if old[0][key] != new[0].get(key)]
    assert set(old[0]) == set(new[0])
    assert not differing, (f"{len(differing)} of {len(old[0])} decisions differ; first: "
                           f"{old[0][differing[0]]} vs {new[0].get(differing[0])}")


async def replay_history(bootstrap: str, prefixes: dict[str, str],
                         workers: dict[str, WorkerProcess]) -> None:
    now = datetime.now(UTC)
    profile = dataclasses.replace(traffic.fault_profile(now), malformed_share=0.02,
                                  resend_share=0.03)
    mix = traffic.Traffic(profile, 300, seed=13, run="diff")
    rng = random.Random(13)
    allowed_so_far: list[tuple[str, str]] = []
    produced = {"debtor.events": 0, "contact.outcomes": 0}
    for round_number in range(ROUNDS):
        events = [(e["debtor_id"].encode(), orjson.dumps(e))
                  for e in (mix.event() for _ in range(25))]
        outcomes = [(debtor.encode(), orjson.dumps({
            "request_id": request_id, "debtor_id": debtor,
            "outcome": rng.choice(("not_connected", "no_answer", "conversation", "delivered")),
            "occurred_at": datetime.now(UTC).isoformat()}))
            for request_id, debtor in rng.sample(allowed_so_far, min(60, len(allowed_so_far)))]
        requests = [mix.message() for _ in range(REQUESTS_PER_ROUND - 1)]
        if round_number == ROUNDS - 1:  # a request id reused with other content
            first = orjson.loads(next(v for k, v in requests if k != traffic.MALFORMED_KEY))
            requests.append((first["debtor_id"].encode(),
                             orjson.dumps({**first, "destination": "+442079499999"})))
        else:
            requests.append(mix.message())
        for prefix in prefixes.values():
            await stream(bootstrap, prefix + "debtor.events", events)
            await stream(bootstrap, prefix + "contact.outcomes", outcomes)
        produced["debtor.events"] += len(events)
        produced["contact.outcomes"] += len(outcomes)
        for loop, prefix in prefixes.items():  # the control agents applied all of them
            group = prefix.rstrip(".") + ("" if loop == "faust" else ".control")
            for topic, total in produced.items():
                committed = await kafka_helpers.wait_committed(
                    bootstrap, group, prefix + topic, total, timeout=60)
                assert sum(committed.values()) >= total, (loop, topic, workers[loop].log_tail())
        for prefix in prefixes.values():
            await stream(bootstrap, prefix + "contact.requests", requests)
        for loop, prefix in prefixes.items():
            await wait_outputs(bootstrap, prefix, (round_number + 1) * REQUESTS_PER_ROUND,
                               timeout=120, alive=lambda w=workers[loop]: w.alive)
        allowed_so_far = await allowed_requests(bootstrap, prefixes["faust"])


async def allowed_requests(bootstrap: str, prefix: str) -> list[tuple[str, str]]:
    offsets = await kafka_helpers.end_offsets(bootstrap, prefix + "contact.allowed")
    records = await kafka_helpers.consume(bootstrap, prefix + "contact.allowed",
                                          sum(offsets.values()), timeout=30)
    out = []
    for record in records:
        body = orjson.loads(record.value)
        out.append((body["request_id"], body["debtor_id"]))
    return out

