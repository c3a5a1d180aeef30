"""The overview's pictures of a range of days: scales, ticks, bars and lines for known figures,
and every mark inside its plot for any figures."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.read.models import DayPoint
from tracker.web.chart import day_range, nice_ceiling, rate_chart, sparkline, volume_chart

DAYS = ["2026-12-01", "2026-12-02", "2026-12-03"]


def point(day: str, messages: int, delivered: int, known: int) -> DayPoint:
    rate = delivered / known if known else None
    return DayPoint(
        day=day, messages=messages, delivered=delivered, known=known, delivery_rate=rate
    )


def test_a_range_holds_both_its_ends():
    assert day_range(date(2026, 11, 29), date(2026, 12, 2)) == [
        "2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02",
    ]  # fmt: skip
    assert day_range(date(2026, 12, 1), date(2026, 12, 1)) == ["2026-12-01"]


@pytest.mark.parametrize(
    ("value", "ceiling", "step"),
    [(0, 1, 1), (1, 1, 1), (3, 3, 1), (7, 8, 2), (95, 100, 50), (1234, 1500, 500), (2e6, 2e6, 5e5)],
)
def test_the_count_axis_ends_on_a_round_step_at_or_above_the_busiest_day(value, ceiling, step):
    assert nice_ceiling(value) == (ceiling, step)


def test_the_rate_line_has_a_point_for_each_day_with_a_known_outcome_at_its_share():
    chart = rate_chart(
        DAYS, [point(DAYS[0], 4, 4, 4), point(DAYS[1], 2, 0, 0), point(DAYS[2], 4, 1, 2)]
    )
    [line] = chart.series
    slot = (chart.width - 12 - chart.left) / 3
    assert [(round(p.x, 2), round(p.y, 2)) for p in line.points] == [
        (round(chart.left + slot / 2, 2), 12.0),  # 100 %: the plot's top
        (round(chart.left + 2.5 * slot, 2), (12 + chart.bottom) / 2),  # 50 %: half way
    ]
    assert [p.label for p in line.points] == [
        "2026-12-01: 100.0 % delivered (4 of 4)",
        "2026-12-03: 50.0 % delivered (1 of 2)",
    ]
    assert [t.label for t in chart.y_ticks] == ["0 %", "25 %", "50 %", "75 %", "100 %"]
    assert [t.position for t in chart.y_ticks] == sorted(
        (t.position for t in chart.y_ticks), reverse=True
    )
    assert [t.label for t in chart.x_labels] == ["12-01", "12-02", "12-03"]


def test_no_days_no_charts():
    assert rate_chart([], []) is None
    assert volume_chart([], []) is None
    assert sparkline([], []) == ""


def test_a_days_bar_stacks_delivered_undelivered_and_pending_up_to_its_messages():
    chart = volume_chart(DAYS, [point(DAYS[0], 8, 5, 6), point(DAYS[2], 2, 2, 2)])
    assert [(b.series, b.label) for b in chart.bars] == [
        ("delivered", "2026-12-01: 5 delivered of 8"),
        ("undelivered", "2026-12-01: 1 undelivered of 8"),
        ("pending", "2026-12-01: 2 pending of 8"),
        ("delivered", "2026-12-03: 2 delivered of 2"),
    ]
    delivered, undelivered, pending, _ = chart.bars
    assert delivered.y + delivered.height == pytest.approx(chart.bottom)  # on the axis
    assert undelivered.y + undelivered.height == pytest.approx(delivered.y)  # on top of it
    assert pending.y + pending.height == pytest.approx(undelivered.y)
    assert pending.y == pytest.approx(12)  # 8 of an axis up to 8: the top
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4", "6", "8"]


def test_a_sparkline_runs_across_the_range_with_zero_on_days_without_messages():
    assert sparkline(DAYS, [point(DAYS[0], 4, 0, 0), point(DAYS[2], 2, 0, 0)]) == (
        "1.0,1.0 50.0,19.0 99.0,10.0"
    )
    assert sparkline(DAYS[:1], [point(DAYS[0], 1, 0, 0)]) == "1.0,1.0"


@st.composite
def ranges(draw):
    count = draw(st.integers(1, 120))
    days = day_range(date(2026, 1, 1), date.fromordinal(date(2026, 1, 1).toordinal() + count - 1))
    points = []
    for day in draw(st.lists(st.sampled_from(days), unique=True)):
        messages = draw(st.integers(0, 10**6))
        known = draw(st.integers(0, messages))
        points.append(point(day, messages, draw(st.integers(0, known)), known))
    return days, points


@given(ranges())
def test_every_bar_and_point_lies_inside_its_plot_and_a_days_bars_add_up(drawn):
    days, points = drawn
    bars = volume_chart(days, points)
    for bar in bars.bars:
        assert bars.left <= bar.x and bar.x + bar.width <= bars.width - 12
        assert bar.y >= 0 and bar.y + bar.height <= bars.bottom + 1e-6
    top = max(t.position for t in bars.y_ticks)  # the axis' zero
    ceiling = int(bars.y_ticks[-1].label.replace(",", ""))
    for p in points:
        height = sum(b.height for b in bars.bars if b.label.startswith(p.day))
        assert height == pytest.approx((top - 12) * p.messages / ceiling)
    line = rate_chart(days, points).series[0]
    assert len(line.points) == sum(1 for p in points if p.known)
    xs = [p.x for p in line.points]
    assert xs == sorted(xs)
    assert all(12 - 1e-6 <= p.y <= bars.bottom + 1e-6 for p in line.points)
