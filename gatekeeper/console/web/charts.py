"""Charts as server-rendered SVG: no script, no build step, no CDN; colours come from the
stylesheet through class names (the CSP allows no inline style)."""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup, escape

from gatekeeper.chart_scale import ticks

HOUR = 3_600_000


def hours_chart(hours: list[tuple[int, int, int]], since: int, until: int) -> Markup:
    """Decisions and blocks per hour over [since, until): a column per hour, the blocked
    part drawn over the total."""
    width, height, left, bottom, top = 960, 220, 48, 24, 10
    start = since - since % HOUR
    slots = max(1, (until - start + HOUR - 1) // HOUR)
    by_hour = {h: (total, blocked) for h, total, blocked in hours}
    peak = max((t for t, _ in by_hour.values()), default=0)
    marks = ticks(peak, whole=True)
    scale = marks[-1]
    plot_w, plot_h = width - left - 8, height - bottom - top
    step = plot_w / slots
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="decisions and blocks per hour">']
    for value in marks:  # grid lines with values
        y = top + plot_h - plot_h * value / scale
        parts.append(f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="axis" x="{left - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{_short(value)}</text>')
    bar = max(step - 1, 1)
    for n in range(slots):
        hour = start + n * HOUR
        total, blocked = by_hour.get(hour, (0, 0))
        x = left + n * step
        if total:
            h = plot_h * total / scale
            parts.append(f'<rect class="allowed" x="{x:.1f}" y="{top + plot_h - h:.1f}" '
                         f'width="{bar:.1f}" height="{h:.1f}"><title>{_label(hour)}: '
                         f'{total:,} decisions, {blocked:,} blocked</title></rect>')
        if blocked:
            h = plot_h * blocked / scale
            parts.append(f'<rect class="blocked" x="{x:.1f}" y="{top + plot_h - h:.1f}" '
                         f'width="{bar:.1f}" height="{h:.1f}"/>')
    every = 24 * max(1, slots // (24 * 8)) if slots > 48 else max(1, slots // 8)
    for n in range(slots):
        hour = start + n * HOUR
        if (hour // HOUR) % every:
            continue  # ticks on whole days (or hours), in UTC
        x = left + n * step
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" '
                     f'y2="{top + plot_h + 4}"/><text class="axis" x="{x:.1f}" '
                     f'y="{height - 6}">{_tick(hour, slots)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(rows: list[tuple[str, int]], *, limit: int = 12, link: str | None = None) -> Markup:
    """Horizontal bars, largest first; ``link`` (a URL ending in ``=``) makes labels links."""
    shown = rows[:limit]
    if not shown:
        return Markup('<p class="empty">Nothing blocked in this range.</p>')
    peak = max(n for _, n in shown) or 1
    row_h, label_w, width = 26, 300, 640
    height = row_h * len(shown) + 4
    parts = [f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img">']
    for i, (label, n) in enumerate(shown):
        y = i * row_h + 2
        w = (width - label_w - 70) * n / peak
        text = escape(label)
        if link:
            from urllib.parse import quote

            text = Markup(f'<a href="{escape(link + quote(label, safe=""))}">{text}</a>')
        parts.append(f'<text class="label" x="{label_w - 8}" y="{y + 17}" text-anchor="end">'
                     f'{text}</text><rect class="blocked" x="{label_w}" y="{y + 4}" '
                     f'width="{max(w, 1):.1f}" height="{row_h - 8}" rx="2"/>'
                     f'<text class="value" x="{label_w + w + 6:.1f}" y="{y + 17}">{n:,}</text>')
    parts.append("</svg>")
    if len(rows) > limit:
        parts.append(f'<p class="more">and {len(rows) - limit} more</p>')
    return Markup("".join(parts))


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _label(hour: int) -> str:
    return datetime.fromtimestamp(hour / 1000, UTC).strftime("%Y-%m-%d %H:00 UTC")


def _tick(hour: int, slots: int) -> str:
    moment = datetime.fromtimestamp(hour / 1000, UTC)
    return moment.strftime("%H:00") if slots <= 48 else moment.strftime("%b %d")
