"""The console's SVG charts: what they draw, and that labels cannot inject markup."""

from __future__ import annotations

import re

from gatekeeper.console.web.charts import HOUR, bars, hours_chart

T0 = 1_795_000_000_000 - 1_795_000_000_000 % HOUR


def test_one_column_per_hour_with_blocks_drawn_over_decisions():
    svg = str(hours_chart([(T0, 10, 4), (T0 + 2 * HOUR, 6, 0)], T0, T0 + 3 * HOUR))
    assert svg.count('class="allowed"') == 2 and svg.count('class="blocked"') == 1
    assert "10 decisions, 4 blocked" in svg
    heights = [float(h) for h in re.findall(r'class="allowed"[^>]* height="([\d.]+)"', svg)]
    assert heights[0] > heights[1]  # 10 is taller than 6
    assert "<script" not in svg


def test_bars_are_largest_first_escaped_and_linked():
    svg = str(bars([("<b>x</b>", 5), ("y", 2)], link="/console/review?rule="))
    assert "&lt;b&gt;x&lt;/b&gt;" in svg and "<b>x" not in svg
    assert 'href="/console/review?rule=%3Cb%3Ex%3C%2Fb%3E"' in svg
    assert svg.index(">5<") < svg.index(">2<")
    assert "Nothing blocked" in str(bars([]))
    assert "and 2 more" in str(bars([(str(n), n) for n in range(14)], limit=12))
