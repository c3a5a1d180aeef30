"""`tracker stats --by ... --plot`: a day's label says its year when the days span more than
one (a month-day alone would show 2025-12-31's and 0001-12-31's bars as the same day)."""

from __future__ import annotations

from tracker.cli.breakdown import chart
from tracker.read.models import Breakdown, DayPoint, GroupStats


def total(points: list[DayPoint]) -> GroupStats:
    n = sum(p.messages for p in points)
    return GroupStats(
        key="", messages=n, states={"deliver": n}, delivered=n, known=n, delivery_rate=1.0,
        pending=0, pending_share=0.0, deliveries=0, p50=None, p95=None, p99=None, daily=points,
    )  # fmt: skip


def test_days_of_different_years_are_labelled_with_their_year(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    days = [DayPoint("0001-12-31", 1, 1, 1, 1.0), DayPoint("2026-12-31", 2, 2, 2, 1.0)]
    text = chart(Breakdown("sender", None, None, total(days), []))
    assert "0001-12-31" in text and "2026-12-31" in text


def test_days_of_one_year_keep_their_short_labels(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    days = [DayPoint("2026-12-30", 1, 1, 1, 1.0), DayPoint("2026-12-31", 2, 2, 2, 1.0)]
    text = chart(Breakdown("sender", None, None, total(days), []))
    assert "12-30" in text and "2026-12-30" not in text
