"""The breakdowns' rules: the histogram's buckets are within 1% of what they hold, its
nearest-rank percentiles within 1% of the exact ones, and a registration's part in a row."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.registration import CONFLICT, REGISTERED, Registration
from tracker.domain.status import Report
from tracker.read.breakdown import breakdown, percentiles
from tracker.views.projection import (
    NO_REPORT,
    Fact,
    breakdown_keys,
    bucket_value,
    delivery_bucket,
    project,
)

T0 = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
seconds = st.floats(0.001, 1e7, allow_nan=False)


@given(seconds)
def test_a_bucket_stands_for_its_values_within_one_percent(x):
    assert bucket_value(delivery_bucket(x)) == pytest.approx(x, rel=0.01)


def test_below_a_millisecond_is_bucket_minus_one_worth_zero():
    assert delivery_bucket(0.0) == delivery_bucket(0.0009) == -1
    assert bucket_value(-1) == 0.0
    assert delivery_bucket(0.001) == 0


@given(st.lists(st.one_of(st.just(0.0), seconds), min_size=1, max_size=300))
def test_percentiles_of_the_merged_buckets_are_within_one_percent_of_the_exact(values):
    buckets: dict[int, int] = {}
    for x in values:
        buckets[delivery_bucket(x)] = buckets.get(delivery_bucket(x), 0) + 1
    ordered = sorted(values)
    for q, found in zip((0.5, 0.95, 0.99), percentiles(buckets, (0.5, 0.95, 0.99)), strict=True):
        exact = ordered[max(1, math.ceil(q * len(values))) - 1]
        assert abs(found - exact) <= 0.01 * exact + 1e-9 or (exact < 0.001 and found == 0)


def test_no_deliveries_no_percentiles():
    assert percentiles({}, (0.5, 0.99)) == [None, None]


def registration(outcome, registration, at=T0):
    return Fact(7, NO_REPORT, at, outcome, registration=registration)


def test_the_first_registration_stands_and_later_ones_are_counted_as_conflicts():
    first = Registration(T0 - timedelta(hours=1), "acme", None, "sms", 1)
    row, delivery = project(None, registration(REGISTERED, first))
    assert delivery is None
    assert (row.state, row.final, row.reports, row.registration) == ("registered", False, 0, first)
    row, _ = project(row, registration(CONFLICT, Registration(None, "beta")))
    assert (row.registration, row.registration_conflicts) == (first, 1)
    assert breakdown_keys(row) == (
        ("sender", "acme", "2026-12-01", "registered", False),
        ("campaign", "", "2026-12-01", "registered", False),
        ("channel", "sms", "2026-12-01", "registered", False),
    )
    delivered = T0 + timedelta(hours=1)
    row, _ = project(row, Fact(7, Report("deliver", "2026-12-02 00:30:00"), delivered))
    assert row.state == "deliver"
    keys = breakdown_keys(row)
    bucket = delivery_bucket(2 * 3600)  # from sent_at, not from the receipt
    assert keys[3:] == (
        ("sender", "acme", "2026-12-01", bucket),
        ("campaign", "", "2026-12-01", bucket),
        ("channel", "sms", "2026-12-01", bucket),
    )


def test_the_sending_day_is_the_first_receipts_without_a_sent_at():
    row, _ = project(None, Fact(8, Report("send", ""), T0 + timedelta(hours=1)))
    assert breakdown_keys(row)[0] == ("sender", "", "2026-12-02", "send", False)
    row, _ = project(row, registration(REGISTERED, Registration(None, "acme")))
    assert breakdown_keys(row)[0] == ("sender", "acme", "2026-12-02", "send", False)


class ManySenders:
    """Views holding ``senders`` senders, each on one day of ``days``: rows O(senders)."""

    def __init__(self, senders: int, days: int) -> None:
        first = datetime(2026, 1, 1)
        self.rows = [
            (f"s{i}", (first + timedelta(days=i % days)).date().isoformat(), "deliver", True, 1)
            for i in range(senders)
        ]

    def breakdown_complete(self) -> bool:
        return True

    def breakdown_states(self, dimension, first=None, last=None):
        return self.rows

    def breakdown_buckets(self, dimension, first=None, last=None, *, by_day=False):
        return []


def test_many_senders_over_many_days_cost_their_rows_not_senders_times_days():
    """100,000 senders over a year: 100,000 points (each group's own days), not 36.5 million
    (each group padded with every day of the range), in an answer and in /metrics' reading."""
    views = ManySenders(100_000, 365)
    answer = breakdown(views, "sender")  # type: ignore[arg-type]
    assert len(answer.groups) == 100_000
    assert sum(len(g.daily) for g in answer.groups) == 100_000
    assert [(p.day, p.messages) for p in answer.groups[0].daily] == [("2026-01-01", 1)]
    assert len(answer.total.daily) == 365
    assert all(not g.daily for g in breakdown(views, "sender", daily=False).groups)  # type: ignore[arg-type]


def test_sending_days_from_year_1_to_9999_keep_the_projectors_day_cache_bounded():
    """sent_at is the client's: each registration may name another of 3.65 million days; the
    projector's cache of day texts stays small whatever they name, and each text is right."""
    from tracker.views import projection

    first = datetime(1, 1, 1, tzinfo=UTC)
    for i in range(0, 3_652_000, 97):
        moment = first + timedelta(days=i)
        assert projection._day(moment) == moment.date().isoformat()
    assert len(projection._DAYS) <= projection.DAYS_KEPT
