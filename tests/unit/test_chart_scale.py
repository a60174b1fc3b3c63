"""The value axis shared by the report's and the console's charts: round ticks."""

import math
import re

import pytest

from gatekeeper.analytics import svg
from gatekeeper.chart_scale import ticks
from gatekeeper.console.web.charts import hours_chart


@pytest.mark.parametrize(("peak", "whole", "expected"), [
    (10, True, [0, 2, 4, 6, 8, 10]),  # not 0, 2.5, 5, 7.5, 10
    (7, True, [0, 2, 4, 6, 8]),
    (3, True, [0, 1, 2, 3]),
    (1, True, [0, 1]),  # a count never steps by less than one
    (0, True, [0, 1]),
    (250, True, [0, 50, 100, 150, 200, 250]),
    (1234, True, [0, 500, 1000, 1500]),
    (0.37, False, [0, 0.1, 0.2, 0.3, 0.4]),
    (1.0, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
])
def test_ticks_are_round_steps_from_zero_to_a_top_at_or_above_the_peak(peak, whole, expected):
    assert ticks(peak, whole=whole) == expected


def test_every_step_is_one_two_or_five_times_a_power_of_ten():
    for peak in [0.003, 0.07, 0.9, 4, 13, 99, 101, 777, 50_001]:
        marks = ticks(peak)
        step = marks[1] - marks[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert round(mantissa, 6) in (1, 2, 5), (peak, marks)
        assert marks[-1] >= peak and len(marks) - 1 <= 5


def _axis_labels(chart: str) -> list[str]:
    return re.findall(r'text-anchor="end"[^>]*>([^<]+)</text>', chart)


def test_report_columns_label_a_small_count_axis_with_whole_numbers():
    chart = svg.columns(["a", "b"], [("n", [3, 10])], label="x")
    assert _axis_labels(chart) == ["0", "2", "4", "6", "8", "10"]


def test_console_hours_chart_labels_round_values():
    hour = 3_600_000
    chart = str(hours_chart([(0, 9, 2), (hour, 3, 0)], 0, 2 * hour))
    assert re.findall(r'text-anchor="end">([^<]+)</text>', chart) == ["0", "2", "4", "6", "8", "10"]


def test_a_heatmap_with_no_cells_says_why_instead_of_an_empty_grid():
    chart = svg.heatmap(["call"], ["08", "09"], {}, label="rpc", empty="no outcomes reported")
    assert "no outcomes reported" in chart and "no data</title>" not in chart
    filled = svg.heatmap(["call"], ["08"], {("call", "08"): (0.5, "half")}, label="rpc")
    assert "half" in filled
