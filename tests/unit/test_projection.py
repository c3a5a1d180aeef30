"""The message view's row, kept incrementally, always equals the fold of every report so far."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.status import RANKS, Report, fold, fold_order
from tracker.views.projection import Fact, count_key, project

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TIMES = ["", "junk", "2011-01-01 12:00:00", "2011-01-01 12:00:30", "2011-01-01 12:01:00"]

facts = st.lists(
    st.tuples(
        st.sampled_from([*RANKS, "mystery"]),
        st.integers(0, len(TIMES) - 1),
    ),
    min_size=1,
    max_size=15,
)


def instant(time: str) -> datetime | None:
    try:
        return datetime.strptime(time, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def replay(pairs):
    row, deliveries, reports = None, [], []
    for n, (state, t) in enumerate(pairs):
        time = TIMES[t]
        report = Report(state, time, instant(time))
        row, delivery = project(row, Fact(42, report, T0 + timedelta(seconds=n)))
        reports.append(report)
        if delivery:
            deliveries.append(delivery)
    return row, deliveries, reports


@given(facts)
def test_the_row_holds_the_fold_of_all_reports_so_far(pairs):
    row, _, reports = replay(pairs)
    assert row.current == fold(reports)
    assert row.reports == len(pairs)
    assert (row.first_received_at, row.last_received_at) == (
        T0,
        T0 + timedelta(seconds=len(pairs) - 1),
    )


@given(facts)
def test_a_conflict_is_a_report_the_fold_rejects(pairs):
    row, _, reports = replay(pairs)
    known = [r for r in reports if r.state in RANKS]
    rejected = (
        row.current is not None
        and row.current.final
        and any(fold_order(r) > fold_order(row.current) for r in known)
    )
    assert row.conflict == rejected


@given(facts)
def test_a_delivery_is_recorded_once_when_the_state_first_becomes_deliver_or_read(pairs):
    _, deliveries, reports = replay(pairs)
    became = [
        n
        for n in range(len(reports))
        if (current := fold(reports[: n + 1])) and current.state in ("deliver", "read")
    ]
    if became:
        [delivery] = deliveries
        assert delivery.delivered_at == T0 + timedelta(seconds=became[0])
        assert delivery.seconds == became[0]
    else:
        assert deliveries == []


def test_state_count_buckets():
    row, _, _ = replay([("mystery", 0)])
    assert count_key(None) is None
    assert count_key(row) == ("", False)
    row, _, _ = replay([("send", 0), ("read", 2)])
    assert count_key(row) == ("read", True)
