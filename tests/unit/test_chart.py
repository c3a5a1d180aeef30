"""The overview's delivery-time chart: every point inside the plot, in day order, on a log scale."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tracker.read.models import DailyDelivery
from tracker.web.chart import delivery_chart, duration

seconds = st.one_of(st.none(), st.floats(0, 30 * 86400, allow_nan=False))


@st.composite
def days(draw):
    count = draw(st.integers(1, 40))
    return [
        DailyDelivery(
            deliveries=draw(st.integers(1, 1000)),
            p50=(p50 := draw(seconds)),
            p90=(p90 := None if p50 is None else p50 + draw(st.floats(0, 86400))),
            p99=None if p90 is None else p90 + draw(st.floats(0, 86400)),
            day=f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}",
        )
        for i in range(count)
    ]


def test_no_deliveries_no_chart():
    assert delivery_chart([]) is None


@given(days())
def test_every_point_lies_inside_the_plot_and_the_days_run_left_to_right(per_day):
    chart = delivery_chart(per_day)
    for series in chart.series:
        xs = [p.x for p in series.points]
        assert xs == sorted(xs)
        for point in series.points:
            assert chart.left <= point.x <= chart.width
            assert 0 <= point.y <= chart.bottom


@given(days())
def test_a_longer_time_is_drawn_higher_and_p50_never_above_p99(per_day):
    chart = delivery_chart(per_day)
    p50, _, p99 = (series.points for series in chart.series)
    for low, high in zip(p50, p99, strict=True):
        assert high.y <= low.y  # SVG's y grows downwards
    ticks = [tick.position for tick in chart.y_ticks]
    assert ticks == sorted(ticks, reverse=True)  # 1 s at the bottom, longer times above


def test_a_point_tells_its_day_series_and_value():
    [day] = [DailyDelivery(deliveries=3, p50=42.0, p90=200.0, p99=4000.0, day="2026-03-01")]
    chart = delivery_chart([day])
    assert [s.points[0].label for s in chart.series] == [
        "2026-03-01 p50: 42 s",
        "2026-03-01 p90: 3 min 20 s",
        "2026-03-01 p99: 1 h 6 min",
    ]


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (None, 0, 2.5, 59, 59.7, 125, 3600, 5400, 86400, 97200)] == [
        "\N{EN DASH}", "0 s", "2.5 s", "59 s", "1 min", "2 min 5 s", "1 h", "1 h 30 min",
        "1 d", "1 d 3 h",
    ]  # fmt: skip
