"""PURE: small charts as inline SVG, drawn in Python.

Why not a plotting library: the report must open with no network (so no script from a CDN),
the package goes into the worker's image (matplotlib and numpy would add ~60 MB for a few
bar charts), and charts drawn here are deterministic text that a test can read (every mark
carries its figure in a ``<title>``, shown as a tooltip). Four shapes cover the report and
the backtest: horizontal bars, (stacked or grouped) columns, columns with interval whiskers,
and a heatmap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from gatekeeper.chart_scale import ticks

# presentation attributes, not a style attribute: the console's CSP allows no inline style
FONT = 'font-family="system-ui,-apple-system,\'Segoe UI\',sans-serif" font-size="11"'
INK, MUTED, GRID = "#1f2933", "#7b8794", "#e4e7eb"
COLORS = ("#3d6fb4", "#d1603d", "#2f8f6b", "#8e6cc2", "#c29a2f", "#5b8a9e")
Format = Callable[[float], str]


def count(value: float) -> str:
    return f"{value:,.0f}"


def percent(value: float) -> str:
    return f"{value:.0%}" if value >= 0.1 or value == 0 else f"{value:.1%}"


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'{FONT}>' + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, *, anchor: str = "start", color: str = INK,
          weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{color}" '
            f'font-weight="{weight}">{escape(text)}</text>')


def _rect(x: float, y: float, w: float, h: float, color: str, title: str) -> str:
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
            f'fill="{color}"><title>{escape(title)}</title></rect>')


def bars(rows: Sequence[tuple[str, float]], *, label: str, fmt: Format = count,
         color: str = COLORS[0], width: int = 560, label_width: int = 230) -> str:
    """Horizontal bars, one per (name, value), the value written at the end of the bar."""
    if not rows:
        return _empty(label, width)
    top = max(value for _, value in rows) or 1
    row, body = 22, []
    span = width - label_width - 70
    for i, (name, value) in enumerate(rows):
        y = 6 + i * row
        body.append(_text(label_width - 8, y + 14, _short(name, 38), anchor="end"))
        body.append(_rect(label_width, y + 3, span * value / top, row - 8, color,
                          f"{name}: {fmt(value)}"))
        body.append(_text(label_width + span * value / top + 6, y + 14, fmt(value),
                          color=MUTED))
    return _svg(width, 12 + row * len(rows), body, label)


def columns(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *,
            label: str, fmt: Format = count, stacked: bool = False, width: int = 720,
            height: int = 220, whiskers: Sequence[tuple[float, float] | None] | None = None,
            every: int = 1, top: float | None = None) -> str:
    """Vertical columns per category: one series, several stacked, or several side by side;
    ``whiskers`` (one series only) draws an interval on each column."""
    if not categories:
        return _empty(label, width)
    left, bottom, legend = 44, 34, 18 if len(series) > 1 else 0
    plot_w, plot_h = width - left - 10, height - bottom - 10 - legend
    totals = [sum(values[i] for _, values in series) if stacked
              else max(values[i] for _, values in series) for i in range(len(categories))]
    if whiskers:
        totals += [w[1] for w in whiskers if w is not None]
    marks = ticks(top or max(totals), whole=fmt is count)
    top = marks[-1]
    body = _axis(left, 10 + legend, plot_w, plot_h, marks, fmt)
    slot = plot_w / len(categories)
    groups = 1 if stacked else len(series)
    bar_w = max(1.0, slot * 0.8 / groups)
    for i, category in enumerate(categories):
        base = 0.0
        for j, (name, values) in enumerate(series):
            value = values[i]
            h = plot_h * value / top
            x = left + i * slot + slot * 0.1 + (0 if stacked else j * bar_w)
            y = 10 + legend + plot_h - h - (plot_h * base / top if stacked else 0)
            title = f"{category}: {fmt(value)}" + (f" {name}" if len(series) > 1 else "")
            body.append(_rect(x, y, bar_w, h, COLORS[j % len(COLORS)], title))
            if stacked:
                base += value
        if whiskers and whiskers[i] is not None:
            low, high = whiskers[i]  # type: ignore[misc]
            x = left + i * slot + slot / 2
            y1, y2 = (10 + legend + plot_h - plot_h * v / top for v in (low, high))
            body.append(f'<path d="M{x:.1f} {y1:.1f}V{y2:.1f}M{x - 3:.1f} {y1:.1f}h6'
                        f'M{x - 3:.1f} {y2:.1f}h6" stroke="{INK}" stroke-width="1">'
                        f"<title>{escape(f'{category}: 95% interval {fmt(low)} to {fmt(high)}')}"
                        "</title></path>")
        if i % every == 0:
            body.append(_text(left + i * slot + slot / 2, height - bottom + 16, category,
                              anchor="middle", color=MUTED))
    if len(series) > 1:
        body += _legend([name for name, _ in series], left, 12)
    return _svg(width, height, body, label)


def heatmap(rows: Sequence[str], columns_: Sequence[str],
            cells: dict[tuple[str, str], tuple[float, str]], *, label: str,
            fmt: Format = percent, cell: int = 26, label_width: int = 70,
            top: float | None = None, empty: str = "no data in this range") -> str:
    """A grid of rows x columns; each cell (value, title) coloured from white to blue, and
    grey where there is no data; ``empty`` instead of a grid when no cell has any."""
    if not cells:
        return _empty(label, 480, empty)
    top = top or max((v for v, _ in cells.values()), default=1) or 1
    width = label_width + cell * len(columns_) + 10
    height = 22 + cell * len(rows) + 6
    body = []
    for j, name in enumerate(columns_):
        body.append(_text(label_width + j * cell + cell / 2, 14, name, anchor="middle",
                          color=MUTED))
    for i, row in enumerate(rows):
        y = 22 + i * cell
        body.append(_text(label_width - 6, y + cell / 2 + 4, row, anchor="end"))
        for j, name in enumerate(columns_):
            found = cells.get((row, name))
            x = label_width + j * cell
            if found is None:
                body.append(_rect(x + 1, y + 1, cell - 2, cell - 2, "#f5f7fa",
                                  f"{row}, {name}: no data"))
                continue
            value, title = found
            share = min(1.0, value / top)
            body.append(_rect(x + 1, y + 1, cell - 2, cell - 2, _blue(share), title))
            if cell >= 26:
                body.append(_text(x + cell / 2, y + cell / 2 + 4, fmt(value).rstrip("%"),
                                  anchor="middle", color="#ffffff" if share > 0.55 else INK))
    return _svg(width, height, body, label)


def _blue(share: float) -> str:
    """White (0) to deep blue (1)."""
    start, end = (247, 250, 252), (23, 74, 145)
    r, g, b = (round(a + (z - a) * share) for a, z in zip(start, end, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _axis(left: int, top_y: int, plot_w: float, plot_h: float, marks: Sequence[float],
          fmt: Format) -> list[str]:
    body = []
    for value in marks:
        y = top_y + plot_h - plot_h * value / marks[-1]
        body.append(f'<path d="M{left} {y:.1f}h{plot_w:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, fmt(value), anchor="end", color=MUTED))
    return body


def _legend(names: Sequence[str], x: int, y: int) -> list[str]:
    body = []
    for j, name in enumerate(names):
        body.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" '
                    f'fill="{COLORS[j % len(COLORS)]}"/>')
        body.append(_text(x + 14, y, name))
        x += 24 + 7 * len(name)
    return body


def _short(text: str, size: int) -> str:
    return text if len(text) <= size else text[:size - 1] + "…"


def _empty(label: str, width: int, message: str = "no data in this range") -> str:
    return _svg(width, 30, [_text(4, 18, message, color=MUTED)], label)

