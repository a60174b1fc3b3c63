"""PURE: recorded decisions against a candidate policy's decisions of the same requests ->
the backtest's figures (JSON-ready).

A request is *newly blocked* when the record allowed it and the candidate blocks it (each
rule of the candidate's reasons is counted), *newly allowed* the other way round (each rule
of the recorded reasons is counted), and *identical* when the candidate's decision reads
exactly as the recorded one (decision, reasons, retry_at, shadow, evaluation time; the
decision id and policy version name the policy, so they differ with any other policy).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from gatekeeper.errors import InvalidInput
from gatekeeper.model import ContactRequest

EXAMPLES = 5
DIFFERENCES = 20
HISTOGRAM = ("0", "1", "2", "3", "4", "5", "6-9", "10-19", "20+")
COMPARED = ("decision", "reasons", "retry_at", "shadow", "evaluated_at")


def bucket(count: int) -> str:
    if count <= 5:
        return str(count)
    return "6-9" if count < 10 else "10-19" if count < 20 else "20+"


def _rules(decision: dict[str, Any]) -> list[str]:
    return [reason["rule"] for reason in decision.get("reasons") or ()]


class Comparison:
    def __init__(self, candidate_policy: str):
        self.candidate_policy = candidate_policy
        self.requests = 0
        self.identical = 0
        self.reasons_changed = 0
        self.invalid = 0
        self.recorded: Counter[str] = Counter()
        self.candidate: Counter[str] = Counter()
        self.policies: Counter[str] = Counter()
        self.rules: dict[str, dict[str, Any]] = defaultdict(_rule_entry)
        self.channels: dict[str, Counter[str]] = defaultdict(Counter)
        self.regions: dict[str, Counter[str]] = defaultdict(Counter)
        self.shadow: Counter[str] = Counter()
        self.per_debtor: dict[str, list[int]] = defaultdict(_pair)  # (picklable: no lambda)
        self.differences: list[dict[str, Any]] = []  # the first whose decision changed
        self.reason_differences: list[dict[str, Any]] = []  # the first with other reasons

    def add(self, request: ContactRequest, region: str, recorded: dict[str, Any],
            candidate: dict[str, Any] | InvalidInput) -> None:
        self.requests += 1
        self.policies[str(recorded.get("policy", ""))] += 1
        before = recorded["decision"]
        self.recorded[before] += 1
        if isinstance(candidate, InvalidInput):
            self.invalid += 1
            self.candidate["invalid"] += 1
            self._difference(request, recorded, None)
            return
        after = candidate["decision"]
        self.candidate[after] += 1
        for reason in candidate.get("shadow") or ():
            self.shadow[reason["rule"]] += 1
        counts = self.per_debtor[request.debtor_id]
        counts[0] += before == "allowed"
        counts[1] += after == "allowed"
        for tally in (self.channels[request.channel], self.regions[region]):
            tally["requests"] += 1
            tally["recorded_allowed"] += before == "allowed"
            tally["candidate_allowed"] += after == "allowed"
        if _same(recorded, candidate):
            self.identical += 1
            return
        self._difference(request, recorded, candidate)
        if before == after:
            self.reasons_changed += before == "blocked" and set(_rules(recorded)) != set(
                _rules(candidate))
            return
        change, rules = (("newly_blocked", _rules(candidate)) if after == "blocked"
                         else ("newly_allowed", _rules(recorded)))
        for tally in (self.channels[request.channel], self.regions[region]):
            tally[change] += 1
        for rule in rules:
            entry = self.rules[rule]
            entry[change] += 1
            entry["channels"][change][request.channel] += 1
            entry["regions"][change][region] += 1
            if len(entry["examples"][change]) < EXAMPLES:
                entry["examples"][change].append(request.request_id)

    def _difference(self, request: ContactRequest, recorded: dict[str, Any],
                    candidate: dict[str, Any] | None) -> None:
        changed = candidate is None or candidate["decision"] != recorded["decision"]
        shown = self.differences if changed else self.reason_differences
        if len(shown) >= DIFFERENCES:
            return
        shown.append({
            "request_id": request.request_id, "debtor_id": request.debtor_id,
            "channel": request.channel, "evaluated_at": recorded.get("evaluated_at"),
            "recorded": {"decision": recorded["decision"], "rules": _rules(recorded)},
            "candidate": ({"decision": candidate["decision"], "rules": _rules(candidate)}
                          if candidate is not None else {"decision": "invalid", "rules": []})})

    def merge(self, other: Comparison) -> None:
        """Add ``other``'s comparisons (of other debtors: a parallel replay's shard). The
        examples and differences kept are the earliest evaluated of both."""
        self.requests += other.requests
        self.identical += other.identical
        self.reasons_changed += other.reasons_changed
        self.invalid += other.invalid
        for tally, added in ((self.recorded, other.recorded), (self.candidate, other.candidate),
                             (self.policies, other.policies), (self.shadow, other.shadow)):
            tally.update(added)
        for rule, entry in other.rules.items():
            into = self.rules[rule]
            for change in ("newly_blocked", "newly_allowed"):
                into[change] += entry[change]
                into["channels"][change].update(entry["channels"][change])
                into["regions"][change].update(entry["regions"][change])
                into["examples"][change] = (into["examples"][change]
                                            + entry["examples"][change])[:EXAMPLES]
        for tallies, more in ((self.channels, other.channels), (self.regions, other.regions)):
            for key, counted in more.items():
                tallies[key].update(counted)
        for debtor, (before, after) in other.per_debtor.items():
            counts = self.per_debtor[debtor]
            counts[0] += before
            counts[1] += after
        for shown, theirs in ((self.differences, other.differences),
                              (self.reason_differences, other.reason_differences)):
            shown[:] = sorted(shown + theirs, key=lambda d: (str(d["evaluated_at"]),
                                                             d["request_id"]))[:DIFFERENCES]

    @property
    def newly_blocked(self) -> int:
        return sum(t["newly_blocked"] for t in self.channels.values())

    @property
    def newly_allowed(self) -> int:
        return sum(t["newly_allowed"] for t in self.channels.values())

    def figures(self) -> dict[str, Any]:
        recorded_hist: Counter[str] = Counter()
        candidate_hist: Counter[str] = Counter()
        fewer = more = 0
        changes = []
        for debtor, (before, after) in self.per_debtor.items():
            recorded_hist[bucket(before)] += 1
            candidate_hist[bucket(after)] += 1
            fewer += after < before
            more += after > before
            if after != before:
                changes.append((after - before, debtor, before, after))
        changes.sort()
        debtors = len(self.per_debtor) or 1
        return {
            "candidate_policy": self.candidate_policy,
            "recorded_policies": dict(self.policies.most_common()),
            "totals": {
                "requests": self.requests, "identical": self.identical,
                "newly_blocked": self.newly_blocked, "newly_allowed": self.newly_allowed,
                "reasons_changed": self.reasons_changed, "invalid": self.invalid,
                "recorded": dict(self.recorded), "candidate": dict(self.candidate)},
            "by_rule": [_rule_figures(rule, entry) for rule, entry in sorted(
                self.rules.items(), key=lambda kv: -(kv[1]["newly_blocked"]
                                                      + kv[1]["newly_allowed"]))],
            "by_channel": _table(self.channels, "channel"),
            "by_region": _table(self.regions, "region"),
            "shadow": dict(self.shadow.most_common()),
            "contacts_per_debtor": {
                "buckets": list(HISTOGRAM),
                "recorded": [recorded_hist[b] for b in HISTOGRAM],
                "candidate": [candidate_hist[b] for b in HISTOGRAM],
                "recorded_mean": sum(b for b, _ in self.per_debtor.values()) / debtors,
                "candidate_mean": sum(a for _, a in self.per_debtor.values()) / debtors,
                "debtors": len(self.per_debtor), "debtors_fewer": fewer,
                "debtors_more": more,
                "largest_changes": [{"debtor_id": d, "recorded": b, "candidate": a}
                                    for _, d, b, a in changes[:10]]},
            "differences": self.differences,
            "reason_differences": self.reason_differences,
        }


def _same(recorded: dict[str, Any], candidate: dict[str, Any]) -> bool:
    """The decisions read alike in every ``COMPARED`` key (a loop: no generator per call)."""
    for key in COMPARED:  # noqa: SIM110  (all() would build a generator per request)
        if recorded.get(key) != candidate.get(key):
            return False
    return True


def _pair() -> list[int]:
    return [0, 0]


def _rule_entry() -> dict[str, Any]:
    return {"newly_blocked": 0, "newly_allowed": 0,
            "channels": {"newly_blocked": Counter(), "newly_allowed": Counter()},
            "regions": {"newly_blocked": Counter(), "newly_allowed": Counter()},
            "examples": {"newly_blocked": [], "newly_allowed": []}}


def _rule_figures(rule: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {"rule": rule, "newly_blocked": entry["newly_blocked"],
            "newly_allowed": entry["newly_allowed"],
            "by_channel": {k: dict(v) for k, v in entry["channels"].items()},
            "by_region": {k: dict(v) for k, v in entry["regions"].items()},
            "examples": entry["examples"]}


def _table(tallies: dict[str, Counter[str]], name: str) -> list[dict[str, Any]]:
    rows = []
    for key, tally in sorted(tallies.items(), key=lambda kv: -kv[1]["requests"]):
        rows.append({name: key, **{k: tally[k] for k in (
            "requests", "recorded_allowed", "candidate_allowed", "newly_blocked",
            "newly_allowed")}})
    return rows
