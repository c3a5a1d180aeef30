"""The overview's pictures of a range of sending days: the breakdowns by day, sender and
campaign read at once, their charts and tables (geometry from tracker.web.chart)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tracker.read import queries
from tracker.read.models import DayPoint, GroupStats
from tracker.views.store import ViewStore
from tracker.web.chart import BarChart, LineChart, day_range, rate_chart, sparkline, volume_chart

TOP_GROUPS = 20  # rows of each group's table; the page says how many more there are
DIMENSIONS = (("sender", "Senders"), ("campaign", "Campaigns"))


@dataclass(frozen=True)
class Row:
    group: GroupStats
    spark: str  # its sparkline: messages per day across the range
    busiest: int  # the most messages it had on a day of the range


@dataclass(frozen=True)
class GroupTable:
    by: str
    title: str
    rows: list[Row]
    more: int  # groups past the top, not shown


@dataclass(frozen=True)
class Pictures:
    first: str
    last: str
    days: list[str]
    total: GroupStats
    per_day: list[DayPoint]  # the days of the range that had messages
    rate: LineChart | None
    volume: BarChart | None
    tables: list[GroupTable]


def pictures(views: ViewStore, first: date, last: date) -> Pictures:
    """A blocking read (BreakdownIncomplete on views made before the breakdowns)."""
    days = day_range(first, last)
    by_day = queries.breakdown(views, "day", first, last)
    per_day = [
        DayPoint(g.key, g.messages, g.delivered, g.known, g.delivery_rate) for g in by_day.groups
    ]
    tables = []
    for by, title in DIMENSIONS:
        groups = queries.breakdown(views, by, first, last).groups
        rows = [
            Row(g, sparkline(days, g.daily), max((d.messages for d in g.daily), default=0))
            for g in groups[:TOP_GROUPS]
        ]
        tables.append(GroupTable(by, title, rows, max(0, len(groups) - TOP_GROUPS)))
    return Pictures(
        first=first.isoformat(),
        last=last.isoformat(),
        days=days,
        total=by_day.total,
        per_day=per_day,
        rate=rate_chart(days, per_day),
        volume=volume_chart(days, per_day),
        tables=tables,
    )
