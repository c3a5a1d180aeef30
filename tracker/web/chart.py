"""The console's charts as geometry: numbers in, SVG coordinates and labels out (no markup)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from tracker.read.models import DailyDelivery, DayPoint

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


# The overview's pictures of a range of sending days (breakdown by day): the delivery rate as a
# line, the volume as bars stacked by outcome, and a sparkline per sender or campaign.
OUTCOMES = ("delivered", "undelivered", "pending")  # bottom to top in a day's bar


@dataclass(frozen=True)
class Bar:
    x: float
    y: float  # its top (SVG's y grows downwards)
    width: float
    height: float
    series: str  # one of OUTCOMES
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    bottom: int
    bars: list[Bar]
    y_ticks: list[Axis]
    x_labels: list[Axis]


@dataclass(frozen=True)
class Plot:
    """The plot area of a chart of a range of days: where each day and each value goes."""

    days: list[str]
    width: int = 960
    height: int = 220
    left: int = 56
    top: int = 12
    right_margin: int = 12
    bottom_margin: int = 28

    @property
    def right(self) -> int:
        return self.width - self.right_margin

    @property
    def bottom(self) -> int:
        return self.height - self.bottom_margin

    @property
    def slot(self) -> float:
        """The width each day has."""
        return (self.right - self.left) / len(self.days)

    def x(self, i: int) -> float:
        """The middle of day i's slot."""
        return self.left + (i + 0.5) * self.slot

    def y(self, value: float, ceiling: float) -> float:
        return (
            self.bottom - (value / ceiling) * (self.bottom - self.top) if ceiling else self.bottom
        )

    def x_labels(self) -> list[Axis]:
        every = max(1, math.ceil(len(self.days) / 10))  # at most about ten dates
        return [Axis(self.x(i), d[5:]) for i, d in enumerate(self.days) if i % every == 0]


def day_range(first: date, last: date) -> list[str]:
    """Every UTC day from first to last, both included, as YYYY-MM-DD."""
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def nice_ceiling(value: float) -> tuple[float, float]:
    """The axis' top and its step: 1, 2 or 5 times a power of ten, about four steps to the top."""
    if value <= 0:
        return 1.0, 1.0
    rough = value / 4
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    step = max(step, 1.0)  # counts of messages: whole steps
    return step * math.ceil(value / step), step


def _percent(rate: float) -> str:
    return f"{100 * rate:.1f} %"


def rate_chart(days: list[str], points: list[DayPoint], width: int = 960) -> LineChart | None:
    """The delivery rate (delivered of known outcome) per day, 0 to 100 %: a point for each day
    with a known outcome, none for the days without one. None for no days."""
    if not days:
        return None
    plot = Plot(days, width)
    where = {d: i for i, d in enumerate(days)}
    line = Series(
        "rate",
        [
            Point(
                plot.x(where[p.day]),
                plot.y(p.delivery_rate, 1.0),
                f"{p.day}: {_percent(p.delivery_rate)} delivered ({p.delivered} of {p.known})",
            )
            for p in sorted(points, key=lambda p: p.day)
            if p.day in where and p.delivery_rate is not None
        ],
    )
    return LineChart(
        width=plot.width,
        height=plot.height,
        left=plot.left,
        bottom=plot.bottom,
        series=[line],
        y_ticks=[Axis(plot.y(t / 100, 1.0), f"{t} %") for t in (0, 25, 50, 75, 100)],
        x_labels=plot.x_labels(),
    )


def volume_chart(days: list[str], points: list[DayPoint], width: int = 960) -> BarChart | None:
    """Messages per day as bars stacked by outcome: delivered, undelivered (a known outcome
    that is not a delivery), pending (no known outcome yet). No bar for a day without
    messages; None for no days."""
    if not days:
        return None
    plot = Plot(days, width)
    where = {d: i for i, d in enumerate(days)}
    shown = [p for p in points if p.day in where and p.messages]
    ceiling, step = nice_ceiling(max((p.messages for p in shown), default=0))
    gap = min(2.0, plot.slot / 5)
    bars = []
    for p in shown:
        counts = (p.delivered, p.known - p.delivered, p.messages - p.known)
        base = 0
        for series, n in zip(OUTCOMES, counts, strict=True):
            if n <= 0:
                continue
            top = plot.y(base + n, ceiling)
            bars.append(
                Bar(
                    x=plot.x(where[p.day]) - plot.slot / 2 + gap / 2,
                    y=top,
                    width=plot.slot - gap,
                    height=plot.y(base, ceiling) - top,
                    series=series,
                    label=f"{p.day}: {n} {series} of {p.messages}",
                )
            )
            base += n
    ticks = [step * i for i in range(int(ceiling / step) + 1)]
    return BarChart(
        width=plot.width,
        height=plot.height,
        left=plot.left,
        bottom=plot.bottom,
        bars=bars,
        y_ticks=[Axis(plot.y(t, ceiling), f"{t:,.0f}") for t in ticks],
        x_labels=plot.x_labels(),
    )


SPARK = (100, 20)  # a sparkline's width and height


def sparkline(days: list[str], points: list[DayPoint]) -> str:
    """A group's messages per day across the range (0 on the days it had none), as an SVG
    polyline's ``points``, scaled to its own busiest day; "" for no days."""
    if not days:
        return ""
    width, height = SPARK
    per_day = {p.day: p.messages for p in points}
    counts = [per_day.get(d, 0) for d in days]
    top = max(counts) or 1
    step = (width - 2) / max(len(days) - 1, 1)
    return " ".join(
        f"{1 + i * step:.1f},{height - 1 - (height - 2) * n / top:.1f}"
        for i, n in enumerate(counts)
    )
