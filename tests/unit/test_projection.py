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


CHANNEL_STATES = ["deliver", "not_deliver", "read", "expired"]
channel_facts = st.lists(
    st.tuples(
        st.sampled_from([*RANKS, "mystery"]),
        st.integers(0, len(TIMES) - 1),
        st.dictionaries(st.sampled_from(["sms", "viber"]), st.sampled_from(CHANNEL_STATES)),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda f: (f[0], f[1]),  # distinct reports (a repeat is no fact)
)


def channels_after(arrivals):
    row = None
    for n, (state, t, channels) in enumerate(arrivals):
        time = TIMES[t]
        fact = Fact(42, Report(state, time, instant(time)), T0 + timedelta(seconds=n),
                    channels=channels or None)  # fmt: skip
        row, _ = project(row, fact)
    return row.channel_states


@given(channel_facts, st.randoms())
def test_each_channel_shows_the_status_of_the_latest_report_that_gave_one(arrivals, rnd):
    shuffled = list(arrivals)
    rnd.shuffle(shuffled)
    assert channels_after(shuffled) == channels_after(arrivals)
    latest: dict[str, tuple] = {}  # the literal reading: per channel, the last in fold order
    for state, t, channels in arrivals:
        report = Report(state, TIMES[t], instant(TIMES[t]))
        for name, value in channels.items():
            latest[name] = max(latest.get(name, (report.order, value)), (report.order, value))
    expected = {name: value for name, (_, value) in sorted(latest.items())} or None
    assert channels_after(arrivals) == expected


def test_a_report_rejected_at_receipt_gives_no_channel_status():
    rejected = Report("read", "2011-01-01 12:00:00", None, "state given twice")
    row, _ = project(None, Fact(42, rejected, T0, channels={"sms": "read"}))
    assert row.channel_states is None
