"""`tracker stats --by day --plot`: the delivery-rate line never crosses a day with no known
outcome (it would show a rate nobody measured), as the console's chart has no point there."""

from __future__ import annotations

import plotext

from tracker.cli import breakdown
from tracker.read.models import Breakdown, GroupStats


def day(key: str, rate: float | None) -> GroupStats:
    known = 0 if rate is None else 4
    return GroupStats(key, 4, {}, round(known * (rate or 0)), known, rate, 4 - known,
                      1 - known / 4, 0, None, None, None, [])  # fmt: skip


def test_a_day_with_no_known_outcome_breaks_the_rate_line(monkeypatch):
    drawn: list[tuple[str, list]] = []
    monkeypatch.setattr(plotext, "plot", lambda xs, ys, **_: drawn.append(("line", xs)))
    monkeypatch.setattr(plotext, "scatter", lambda xs, ys, **_: drawn.append(("dot", xs)))
    rates = [0.0, None, 0.75, 1.0, None, None, 0.5]
    days = [day(f"2026-12-0{n}", r) for n, r in enumerate(rates, 1)]
    total = day("", 0.5)
    text = breakdown.chart(Breakdown("day", None, None, total, days))
    assert drawn == [("dot", [1]), ("line", [3, 4]), ("dot", [7])]
    assert "delivery rate per day" in text  # the days' places are the xs drawn above
