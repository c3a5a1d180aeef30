"""Overdue messages on a real store (SQLite file, PostgreSQL): not final TRACKER_OVERDUE_AFTER
after their first receipt (a report or a registration), by the reader's clock, which these
tests fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.application import Status
from tracker.application.commands import Batch, Registering
from tracker.bootstrap import open_views
from tracker.config import Settings
from tracker.domain.registration import Registration
from tracker.read import queries
from tracker.views.projector import Projector, rebuild
from tracker.views.store import MessageFilter

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)  # the reader's clock, fixed
AGE = timedelta(hours=72)
HOUR = timedelta(hours=1)
TIME = "2026-03-01 12:00:00"
LATER = "2026-03-01 13:00:00"


@pytest.fixture
def views(tracker):
    return open_views(tracker)


def received(tracker, at: datetime, *statuses: Status) -> None:
    tracker.record(list(statuses), received_at=at)


@pytest.fixture
def history(tracker, views):
    """Messages first received around the threshold, in receipt order (one clock)."""
    received(tracker, NOW - 80 * HOUR, Status(5, "send", ""), Status(6, "send", ""))
    received(tracker, NOW - 73 * HOUR, Status(1, "send", ""), Status(2, "read", TIME))
    received(tracker, NOW - AGE - timedelta(microseconds=1), Status(4, "deliver", TIME))
    received(tracker, NOW - AGE, Status(3, "send", ""))  # exactly 72 h: not yet overdue
    received(tracker, NOW - 71 * HOUR, Status(7, "send", ""))
    received(tracker, NOW - HOUR, Status(5, "deliver", TIME), Status(6, "read", LATER))
    Projector(tracker, views).catch_up()
    return views


def ids(page) -> list[int]:
    return [m.id_sms for m in page.messages]


def test_a_message_not_final_past_the_threshold_after_its_first_report_is_overdue(tracker, history):
    overdue = queries.list_messages(
        history, MessageFilter(overdue=True), now=NOW, overdue_after=AGE
    )
    # 1: 73 h, not final; 4: 72 h and a microsecond; 5: first received 80 h ago, a report an
    # hour ago (the first report counts). 2 and 6 are final, 3 is exactly 72 h old, 7 is 71 h.
    assert ids(overdue) == [1, 4, 5]
    assert all(m.overdue for m in overdue.messages)
    rest = queries.list_messages(history, MessageFilter(overdue=False), now=NOW, overdue_after=AGE)
    assert ids(rest) == [2, 3, 6, 7]
    assert not any(m.overdue for m in rest.messages)
    every = queries.list_messages(history, now=NOW, overdue_after=AGE)
    assert {m.id_sms: m.overdue for m in every.messages} == {
        1: True, 2: False, 3: False, 4: True, 5: True, 6: False, 7: False
    }  # fmt: skip


def test_overdue_moves_with_the_clock_and_the_threshold_not_with_the_views(tracker, history):
    def overdue(now, age=AGE):
        chosen = MessageFilter(overdue=True)
        return ids(queries.list_messages(history, chosen, now=now, overdue_after=age))

    assert overdue(NOW + HOUR + timedelta(microseconds=1)) == [1, 3, 4, 5, 7]
    assert overdue(NOW - 8 * HOUR) == []  # 5 was 72 h old then: not yet
    assert overdue(NOW, timedelta(hours=1)) == [1, 3, 4, 5, 7]
    assert overdue(NOW, timedelta(hours=100)) == []
    before = history.checksums()
    assert rebuild(tracker, history).checksums == before  # nothing of it is stored


def test_the_overdue_filter_goes_with_the_others_and_pages(tracker, history):
    def listed(chosen, **kwargs):
        return ids(queries.list_messages(history, chosen, now=NOW, overdue_after=AGE, **kwargs))

    assert listed(MessageFilter(overdue=True, state="send")) == [1]
    assert listed(MessageFilter(overdue=True, final=True)) == []
    assert listed(MessageFilter(overdue=False, final=False)) == [3, 7]
    first = queries.list_messages(
        history, MessageFilter(overdue=True), now=NOW, overdue_after=AGE, limit=2
    )
    assert ids(first) == [1, 4] and first.next is not None
    assert listed(MessageFilter(overdue=True), cursor=first.next) == [5]


def test_stats_count_the_overdue_messages_with_the_threshold_used(tracker, history):
    answer = queries.stats(history, now=NOW, overdue_after=AGE)
    assert (answer.overdue, answer.overdue_after_seconds) == (3, 72 * 3600)
    later = queries.stats(history, now=NOW + 2 * HOUR, overdue_after=AGE)
    assert later.overdue == 5
    assert history.count_overdue(NOW - AGE) == 3


def test_one_message_says_whether_it_is_overdue_even_before_the_views_have_it(tracker, history):
    def one(id_sms):
        return queries.message(tracker, history, id_sms, now=NOW, overdue_after=AGE)

    assert (one(1).overdue, one(2).overdue, one(3).overdue) == (True, False, False)
    received(tracker, NOW, Status(1, "deliver", TIME), Status(9, "send", ""))  # not projected
    assert history.position() < tracker.recorder.max_notification_id()
    assert (one(1).state, one(1).overdue) == ("deliver", True)  # folded from its events
    assert one(9).overdue is False
    assert queries.message(
        tracker, history, 9, now=NOW + AGE + HOUR, overdue_after=AGE
    ).overdue  # fmt: skip


def test_the_default_threshold_is_the_settings_default():
    assert queries.OVERDUE_AFTER == Settings().overdue_age == AGE


def test_sqlite_counts_and_lists_overdue_messages_through_the_partial_index(tracker, history):
    if not tracker.recorder.datastore.__class__.__module__.startswith("eventsourcing.sqlite"):
        pytest.skip("the query plan checked here is SQLite's")
    where, params = history.tables.message_conditions(
        MessageFilter(overdue=True, overdue_before=NOW - AGE)
    )
    with history.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            f"EXPLAIN QUERY PLAN SELECT COUNT(*) FROM messages WHERE {' AND '.join(where)}",
            params,
        )
        plan = " ".join(str(tuple(r)[-1]) for r in cursor.fetchall())
    assert "messages_open" in plan


offsets = st.lists(
    st.tuples(
        st.integers(1, 12),
        st.sampled_from(["send", "deliver", "read", "expired", "odd"]),
        st.integers(0, 200),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(offsets, st.integers(0, 300), st.integers(1, 100))
def test_the_stores_filter_agrees_with_each_summarys_overdue(
    tracker, views, reports, hours, age_hours
):
    """Whatever arrived when, the database's filter and count say what each summary says."""
    start = max(NOW, tracker.written.latest)  # receipts only move forward, example to example
    for id_sms, state, minutes in sorted(reports, key=lambda r: r[2]):
        received(tracker, start + timedelta(minutes=minutes), Status(id_sms, state, TIME))
    Projector(tracker, views).catch_up()
    now, age = start + timedelta(hours=hours), timedelta(hours=age_hours)
    every = queries.list_messages(views, limit=1000, now=now, overdue_after=age).messages
    expected = [m.id_sms for m in every if not m.final and m.first_received_at < now - age]
    assert [m.id_sms for m in every if m.overdue] == expected
    overdue = queries.list_messages(
        views, MessageFilter(overdue=True), limit=1000, now=now, overdue_after=age
    )
    assert ids(overdue) == expected
    assert queries.stats(views, now=now, overdue_after=age).overdue == len(expected)
    rest = queries.list_messages(
        views, MessageFilter(overdue=False), limit=1000, now=now, overdue_after=age
    )
    assert sorted(ids(rest) + expected) == [m.id_sms for m in every]


def test_a_registration_is_a_first_receipt_a_registered_message_is_overdue_from_it(tracker, views):
    """A message registered and never reported is not final: overdue TRACKER_OVERDUE_AFTER after
    its registration was received; a registration received before the first report starts
    the clock (the console, the CLI and /metrics say "first receipt")."""

    def register(at: datetime, *ids: int) -> None:
        registering = tuple(Registering(n, Registration(at, "acme")) for n in ids)
        tracker.record_batches([Batch((), registrations=registering, received_at=at)])

    register(NOW - 73 * HOUR, 11, 12)  # 11: never reported; 12: reported an hour ago
    register(NOW - 71 * HOUR, 13)  # registered 71 h ago: not yet overdue
    received(tracker, NOW - HOUR, Status(12, "deliver", TIME))
    Projector(tracker, views).catch_up()
    overdue = queries.list_messages(views, MessageFilter(overdue=True), now=NOW, overdue_after=AGE)
    assert ids(overdue) == [11, 12]
    assert [m.state for m in overdue.messages] == ["registered", "deliver"]
    assert queries.stats(views, 31, now=NOW, overdue_after=AGE).overdue == 2
