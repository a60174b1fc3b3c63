"""PURE: the report's and the backtest's figures -> one self-contained HTML page each (inline
CSS and SVG, no script, nothing fetched when it is opened). The page also carries its
figures as JSON (``<script type="application/json" id="figures">``), the same as ``--json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

import orjson

from gatekeeper.analytics import svg
from gatekeeper.analytics.dimensions import STAGE_NAMES

NO_OUTCOMES = "no outcomes reported in this range (contact.outcomes): nothing to rate yet"

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2933;margin:0;
background:#f5f7fa}main{max-width:1060px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid
#d9dee4;padding-bottom:4px}p.note{color:#52606d;font-size:13px;margin:4px 0 10px}
.tiles{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0}.tile{background:#fff;border:1px
solid #e4e7eb;border-radius:6px;padding:10px 14px;min-width:120px}.tile b{display:block;
font-size:20px}.tile span{color:#52606d;font-size:12px}.card{background:#fff;border:1px solid
#e4e7eb;border-radius:6px;padding:12px 14px;margin:10px 0;overflow-x:auto}.row{display:flex;
gap:12px;flex-wrap:wrap}.row .card{flex:1 1 460px}table{border-collapse:collapse;
font-size:12px}th,td{text-align:left;padding:3px 10px 3px 0;border-bottom:1px solid #eef0f3;
vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:11px}
.muted{color:#7b8794}
"""


def _page(title: str, subtitle: str, sections: Sequence[str], figures: dict[str, Any]) -> str:
    data = orjson.dumps(figures).decode().replace("</", "<\\/")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
            f"<h1>{escape(title)}</h1><p class=\"note\">{escape(subtitle)}</p>"
            + "".join(sections)
            + f'<script type="application/json" id="figures">{data}</script>'
            "</main></body></html>")


def _tiles(tiles: Sequence[tuple[str, str]]) -> str:
    return '<div class="tiles">' + "".join(
        f'<div class="tile"><b>{escape(value)}</b><span>{escape(name)}</span></div>'
        for name, value in tiles) + "</div>"


def _card(title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{escape(note)}</p>' if note else ""
    return f'<div class="card"><b>{escape(title)}</b>{note_html}{body}</div>'


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], empty: str = "") -> str:
    """A table; ``empty``, when given, says in one row why it has none."""
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    if not rows and empty:
        out.append(f'<tr><td class="muted" colspan="{len(head)}">{escape(empty)}</td></tr>')
    for row in rows:
        cells = []
        for value in row:
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            text = f"{value:,}" if isinstance(value, int) and numeric else str(value)
            cells.append(f'<td class="n">{escape(text)}</td>' if numeric
                         else f"<td>{escape(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</table>"


def _rate(value: float | None) -> str:
    return "–" if value is None else svg.percent(value)


def _ci(ci: Sequence[float]) -> str:
    return f"{svg.percent(ci[0])}–{svg.percent(ci[1])}"


# --------------------------------------------------------------------------- report
def report_page(figures: dict[str, Any]) -> str:
    span = figures["range"]
    return _page("Contact report", f"{_when(span['from'])} to {_when(span['to'])} · policies: "
                 + ", ".join(figures.get("policies", {})), report_sections(figures), figures)


def report_sections(figures: dict[str, Any]) -> list[str]:
    """The report's tiles, charts and tables as HTML fragments (no style, no script: the
    console's Insights page shows them under its own stylesheet)."""
    totals = figures["totals"]
    sections = [_tiles([
        ("requests", f"{totals['requests']:,}"), ("allowed", f"{totals['allowed']:,}"),
        ("blocked", f"{totals['blocked']:,}"), ("block rate", _rate(totals["block_rate"])),
        ("debtors", f"{totals['debtors']:,}"), ("outcomes reported", f"{totals['outcomes']:,}"),
    ])]
    sections.append("<h2>Volumes and blocks</h2>")
    daily = figures["daily"]
    sections.append(_card("Requests per day (UTC)", svg.columns(
        [d["date"][5:] for d in daily],
        [("allowed", [d["allowed"] for d in daily]), ("blocked", [d["blocked"] for d in daily])],
        label="requests per day", stacked=True, width=1000,
        every=max(1, len(daily) // 15))))
    sections.append(_card("Blocked requests by rule", svg.bars(
        [(r["rule"], r["blocked"]) for r in figures["by_rule"]], label="blocks by rule",
        color=svg.COLORS[1], width=1000, label_width=300),
        "A request may break several rules; each is counted."))
    sections.append('<div class="row">' + "".join(
        _card(f"Block rate by {name}", svg.bars(
            [(str(r[name]), r["block_rate"] or 0.0) for r in figures[key]],
            label=f"block rate by {name}", fmt=svg.percent, color=svg.COLORS[1],
            label_width=110, width=480))
        for name, key in (("channel", "by_channel"), ("region", "by_region"))) + "</div>")
    hours = [r for r in figures["by_hour"] if r["hour"] != "unknown"]
    sections.append(_card("Requests and block rate by the debtor's local hour", svg.columns(
        [r["hour"] for r in hours], [("allowed", [r["allowed"] for r in hours]),
                                     ("blocked", [r["blocked"] for r in hours])],
        label="requests by local hour", stacked=True, width=1000)
        + _table(["hour"] + [r["hour"] for r in hours],
                 [["block rate"] + [_rate(r["block_rate"]) for r in hours]])))
    sections += _outcome_sections(figures)
    return sections


def _outcome_sections(figures: dict[str, Any]) -> list[str]:
    outcomes = figures["outcomes"]
    out = ["<h2>Outcomes: who answers, on which channel, at what hour</h2>",
           '<p class="note">Attempts are allowed contacts; rates are over those with a '
           "reported outcome. Answered: a conversation, a voicemail or a delivered message. "
           "A conversation is a right-party contact (RPC). Intervals are 95 % Wilson "
           "intervals: wide where counts are small.</p>"]
    channels = sorted({c["channel"] for c in outcomes["by_channel_hour"]},
                      key=lambda c: [r["channel"] for r in figures["by_channel"]].index(c)
                      if c in [r["channel"] for r in figures["by_channel"]] else 99)
    hours = [f"{h:02d}" for h in range(24)]
    cells = {(c["channel"], f"{c['hour']:02d}"): (
        c["rpc_rate"], f"{c['channel']} at {c['hour']:02d}:00: RPC {_rate(c['rpc_rate'])} "
                       f"({c['conversations']}/{c['reported']}; 95% {_ci(c['rpc_ci'])})")
        for c in outcomes["by_channel_hour"] if c["hour"] is not None and c["reported"]}
    out.append(_card("Right-party-contact rate by channel and local hour",
                     svg.heatmap(channels, hours, cells, label="RPC rate by channel and hour",
                                 cell=38, empty=NO_OUTCOMES)))
    call_cells = [c for c in outcomes["cells"] if c["channel"] == "call"
                  and c["hour"] is not None and c["reported"]]
    stages = [s for s in STAGE_NAMES if any(c["stage"] == s for c in call_cells)]
    grid = {(c["stage"], f"{c['hour']:02d}"): (
        c["rpc_rate"], f"calls, {c['stage']} days past due, {c['hour']:02d}:00: RPC "
                       f"{_rate(c['rpc_rate'])} ({c['conversations']}/{c['reported']}; "
                       f"95% {_ci(c['rpc_ci'])})") for c in call_cells}
    out.append(_card("Calls: right-party-contact rate by stage (days past due) and local hour",
                     svg.heatmap(stages, hours, grid, label="call RPC by stage and hour",
                                 cell=38, empty=NO_OUTCOMES)))
    small = []
    for stage in stages:
        by_hour = {c["hour"]: c for c in call_cells if c["stage"] == stage}
        present = [h for h in range(24) if h in by_hour]
        if not present:
            continue
        small.append(_card(f"Calls, {stage} days past due: RPC rate with 95 % interval",
                           svg.columns([f"{h:02d}" for h in present],
                                       [("RPC", [by_hour[h]["rpc_rate"] for h in present])],
                                       whiskers=[tuple(by_hour[h]["rpc_ci"]) for h in present],
                                       label=f"call RPC by hour, {stage}", fmt=svg.percent,
                                       width=480, height=180, top=1.0)))
    out.append('<div class="row">' + "".join(small) + "</div>")
    no_outcomes = NO_OUTCOMES if not figures["totals"]["outcomes"] else ""
    rows = [[b["channel"], b["stage"], b["reported"], _rate(b["rpc_rate"])]
            + [f"{h['hour']:02d}:00 {_rate(h['rpc_rate'])} ({_ci(h['rpc_ci'])}, n={h['reported']})"
               for h in b["hours"]] for b in figures["best_hours"]]
    out.append(_card("Best local hours per channel and stage", _table(
        ["channel", "stage", "reported", "RPC overall", "best", "second", "third"], rows,
        no_outcomes or "no channel and stage has an hour with 10 reported contacts yet"),
        "Ranked by the lower end of the 95 % interval, among hours with at least 10 "
        "reported contacts."))
    affinity = figures["channel_affinity"]
    rows = [[p["answers"], p["ignores"], p["debtors"], ", ".join(p["debtor_ids"][:6])
             + (" …" if p["debtors"] > 6 else "")] for p in affinity["pairs"]]
    out.append(_card("Debtors who answer one channel but not another", _table(
        ["answers", "ignores", "debtors", "for example"], rows,
        no_outcomes or "no debtor answers one channel and ignores another yet"),
        affinity["definition"] + f". Among {affinity['debtors_with_outcomes']:,} debtors with "
        "outcomes; the JSON lists every debtor id."))
    return out


# --------------------------------------------------------------------------- backtest
def backtest_page(figures: dict[str, Any]) -> str:
    totals = figures["totals"]
    span = figures["range"]
    sections = [_tiles([
        ("requests replayed", f"{totals['requests']:,}"),
        ("identical decisions", f"{totals['identical']:,}"),
        ("newly blocked", f"{totals['newly_blocked']:,}"),
        ("newly allowed", f"{totals['newly_allowed']:,}"),
        ("blocked for other rules", f"{totals['reasons_changed']:,}"),
    ])]
    rules = figures["by_rule"]
    sections.append("<h2>What would change, by rule</h2>")
    sections.append('<div class="row">' + "".join(
        _card(title, svg.bars([(r["rule"], r[key]) for r in rules if r[key]],
                              label=title, color=color, width=480, label_width=220))
        for title, key, color in (
            ("Newly blocked, by the candidate's rules", "newly_blocked", svg.COLORS[1]),
            ("Newly allowed, by the rules the record blocked for", "newly_allowed",
             svg.COLORS[2]))) + "</div>")
    rows = [[r["rule"], r["newly_blocked"], r["newly_allowed"],
             _counts(r["by_channel"]["newly_blocked"]), _counts(r["by_region"]["newly_blocked"]),
             ", ".join(r["examples"]["newly_blocked"] + r["examples"]["newly_allowed"])]
            for r in rules]
    sections.append(_card("By rule: channels, regions and example request ids", _table(
        ["rule", "newly blocked", "newly allowed", "blocked by channel", "blocked by region",
         "examples"], rows)))
    sections.append('<div class="row">' + "".join(
        _card(f"By {name}", _table([name, "requests", "allowed (record)",
                                    "allowed (candidate)", "newly blocked", "newly allowed"],
                                   [[r[name], r["requests"], r["recorded_allowed"],
                                     r["candidate_allowed"], r["newly_blocked"],
                                     r["newly_allowed"]] for r in figures[key]]))
        for name, key in (("channel", "by_channel"), ("region", "by_region"))) + "</div>")
    per = figures["contacts_per_debtor"]
    sections.append(_card("Contacts allowed per debtor in the range", svg.columns(
        per["buckets"], [("record", per["recorded"]), ("candidate", per["candidate"])],
        label="contacts per debtor", width=1000),
        f"Mean {per['recorded_mean']:.2f} on record, {per['candidate_mean']:.2f} with the "
        f"candidate; {per['debtors_fewer']:,} debtors would get fewer contacts, "
        f"{per['debtors_more']:,} more."))
    if figures["shadow"]:
        sections.append(_card("Shadow rules of the candidate: would have blocked", svg.bars(
            list(figures["shadow"].items()), label="shadow hits", width=1000,
            label_width=300)))
    for title, key in (("First requests whose decision changes", "differences"),
                       ("First requests blocked for other rules", "reason_differences")):
        diffs = [[d["request_id"], d["debtor_id"], d["channel"], d["evaluated_at"],
                  f"{d['recorded']['decision']} {' '.join(d['recorded']['rules'])}",
                  f"{d['candidate']['decision']} {' '.join(d['candidate']['rules'])}"]
                 for d in figures.get(key, ())]
        if diffs:
            sections.append(_card(title, _table(
                ["request", "debtor", "channel", "decided at", "record", "candidate"], diffs)))
    policies = ", ".join(figures["recorded_policies"])
    return _page("Backtest: " + figures["candidate_policy"],
                 f"{_when(span['from'])} to {_when(span['to'])} (counters warmed up from "
                 f"{_when(span['warmup_from'])}) · recorded with {policies}", sections, figures)


def _when(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
