"""The console's charts as geometry: numbers in, SVG coordinates and labels out (no markup)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tracker.read.models import DailyDelivery

# Delivery times span seconds to days, so the chart's time axis is logarithmic with these ticks.
TICKS: tuple[tuple[float, str], ...] = (
    (1, "≤ 1 s"),
    (10, "10 s"),
    (60, "1 min"),
    (600, "10 min"),
    (3600, "1 h"),
    (6 * 3600, "6 h"),
    (86400, "1 d"),
    (7 * 86400, "7 d"),
)
SERIES = ("p50", "p90", "p99")
NOTHING = "\N{EN DASH}"  # what a table shows for no value


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str  # what a tooltip says about the point


@dataclass(frozen=True)
class Series:
    name: str
    points: list[Point]

    @property
    def path(self) -> str:
        """The points as an SVG polyline's ``points`` attribute."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Axis:
    position: float
    label: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int  # the plot area starts here; the y labels sit to its left
    bottom: int  # the plot area ends here; the x labels sit below it
    series: list[Series]
    y_ticks: list[Axis]
    x_labels: list[Axis]


def duration(seconds: float | None) -> str:
    """A delivery time as people read it: 42 s, 3 min 20 s, 2 h 5 min, 3 d 4 h."""
    if seconds is None:
        return NOTHING
    if seconds < 59.5:  # what would round to 60 s reads as 1 min
        whole = seconds >= 10 or seconds == int(seconds)
        return f"{seconds:.0f} s" if whole else f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def delivery_chart(
    per_day: list[DailyDelivery], width: int = 960, height: int = 240
) -> LineChart | None:
    """p50, p90 and p99 of the delivery time per day, on a log scale; None without deliveries."""
    if not per_day:
        return None
    left, top, right, bottom = 56, 12, width - 12, height - 28
    values = [v for d in per_day for v in (d.p50, d.p90, d.p99) if v is not None]
    ceiling = max([*values, 10.0])
    top_tick = next((t for t, _ in TICKS if t >= ceiling), TICKS[-1][0])
    span = math.log10(max(top_tick, ceiling))

    def y(seconds: float) -> float:
        scaled = math.log10(max(seconds, 1.0)) / span  # under a second sits on the 1 s line
        return bottom - scaled * (bottom - top)

    step = (right - left) / max(len(per_day) - 1, 1)

    def x(i: int) -> float:
        return left + i * step if len(per_day) > 1 else (left + right) / 2

    series = [
        Series(
            name,
            [
                Point(x(i), y(value), f"{day.day} {name}: {duration(value)}")
                for i, day in enumerate(per_day)
                if (value := getattr(day, name)) is not None
            ],
        )
        for name in SERIES
    ]
    every = max(1, math.ceil(len(per_day) / 8))  # at most about eight dates along the bottom
    return LineChart(
        width=width,
        height=height,
        left=left,
        bottom=bottom,
        series=series,
        y_ticks=[Axis(y(t), label) for t, label in TICKS if t <= top_tick],
        x_labels=[Axis(x(i), d.day[5:]) for i, d in enumerate(per_day) if i % every == 0],
    )
