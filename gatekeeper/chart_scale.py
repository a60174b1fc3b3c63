"""PURE: the value axis of a chart: ticks from 0 to a round top at or above the peak.

Shared by the report's charts (gatekeeper.analytics.svg) and the console's
(gatekeeper.console.web.charts), so that both label their grid lines with round values:
every step is 1, 2 or 5 times a power of ten, and a count axis never steps by less than one
(a scale of 0-10 reads 0, 2, 4, 6, 8, 10, not 0, 2.5, 5, 7.5, 10 rounded to 0, 2, 5, 8, 10).
"""

from __future__ import annotations

import math


def ticks(peak: float, *, whole: bool = False, most: int = 5) -> list[float]:
    """The axis' tick values, 0 first and the top last: at most ``most`` intervals of one
    round step; ``whole`` keeps the step at 1 or more (counts)."""
    if not peak > 0:  # nothing to show (or not a number): one step
        peak = 1.0
    exponent = math.floor(math.log10(peak / most))
    if whole:
        exponent = max(exponent, 0)
    while True:
        for factor in (1, 2, 5):
            step = factor * 10.0 ** exponent
            intervals = max(1, math.ceil(peak / step - 1e-9))
            if intervals <= most:
                return [round(step * k, 12) for k in range(intervals + 1)]
        exponent += 1
