"""The message aggregate: one event per distinct report, outcomes decided at receipt, replayable."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.ids import MAX_ID_SMS, legacy_message_id, message_id
from tracker.domain.message import Message, receive
from tracker.domain.quarantine import QuarantinedInput
from tracker.domain.status import Report, fold
from tracker.domain.timestamps import parse_time, zone

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MOSCOW = zone("Europe/Moscow")


def r(state: str, time: str = "") -> Report:
    return Report(state, time, parse_time(time, MOSCOW))


def replay(message: Message) -> Message:
    events = message.collect_events()
    copy = None
    for e in events:
        copy = e.mutate(copy)
    return copy


def test_the_aggregate_id_is_derived_from_id_sms_alone():
    assert message_id(3234) == message_id(3234) != message_id(3235)
    assert Message.first_report(3234, r("send"), NOW).id == message_id(3234)


@given(st.integers(0, MAX_ID_SMS), st.integers(0, MAX_ID_SMS))
def test_message_ids_sort_as_their_numbers_do_in_every_stored_form(a, b):
    """As UUIDs, as the hex text SQLite stores and as the bytes PostgreSQL compares."""
    x, y = message_id(a), message_id(b)
    assert (a < b) == (x < y) == (x.hex < y.hex) == (x.bytes < y.bytes)
    assert (a == b) == (x == y)


@given(st.integers(0, MAX_ID_SMS))
def test_a_message_id_is_an_rfc_9562_version_8_uuid(n):
    assert (message_id(n).version, message_id(n).variant) == (8, "specified in RFC 4122")


@pytest.mark.parametrize("step", [1, 10, 256, 1000, 2**32])
def test_the_last_byte_of_message_ids_spreads_evenly_whatever_the_numbers_step(step):
    """Rebuild workers split messages by it: a quarter of the bytes holds about a quarter."""
    quarters = Counter(message_id(7 + i * step).bytes[-1] // 64 for i in range(4000))
    assert all(850 < quarters[q] < 1150 for q in range(4)), quarters


def test_stores_written_before_ordered_ids_keep_their_uuid5_ids():
    """Never change: these name the messages of stores written by earlier versions."""
    assert legacy_message_id(3234) == UUID("57b5a27e-de3a-5bb9-97fb-2d6c1fec316f")
    assert legacy_message_id(3234).version == 5


def test_every_distinct_report_is_one_report_and_an_exact_repeat_a_delivery_of_it():
    message, first = receive(None, 7, r("send"), NOW)
    _, second = receive(message, 7, r("deliver", "2011-01-01 12:00:00"), NOW)
    later = NOW + timedelta(minutes=5)
    _, repeat = receive(message, 7, r("deliver", "2011-01-01 12:00:00"), later)
    _, same_state_other_time = receive(message, 7, r("deliver", "2011-01-01 12:00:01"), NOW)
    assert (first, second, repeat, same_state_other_time) == (
        "applied",
        "applied",
        None,
        "superseded",
    )
    assert len(message.reports) == 3
    kinds = [type(e).__name__ for e in message.pending_events]
    assert kinds == ["FirstReported", "StatusReported", "ReportedAgain", "StatusReported"]
    again = message.pending_events[2]
    assert (again.identity, again.received_at, again.times) == (
        ("deliver", "2011-01-01 12:00:00"),
        later,
        1,
    )
    assert message.current.time == "2011-01-01 12:00:00"  # a delivery does not move the state


def test_events_carry_the_raw_values_the_instant_the_receipt_time_and_the_outcome():
    message, _ = receive(None, 9, r("read", "2011-01-01 12:57:46"), NOW, raw='{"x": 1}')
    receive(message, 9, r("deliver", "2011-01-01 12:58:00"), NOW)
    created, rejected = message.pending_events
    assert (created.id_sms, created.state, created.time, created.outcome, created.raw) == (
        9,
        "read",
        "2011-01-01 12:57:46",
        "applied",
        '{"x": 1}',
    )
    assert created.instant == datetime(2011, 1, 1, 9, 57, 46, tzinfo=UTC)
    assert created.received_at == NOW
    assert (rejected.state, rejected.outcome, rejected.raw) == ("deliver", "rejected", None)


def test_unknown_states_are_held_and_counted_but_set_no_state():
    message, outcome = receive(None, 1, r("queued", "2011-01-01 12:00:00"), NOW)
    assert outcome == "unknown_state"
    assert message.current is None and not message.final
    assert len(message.reports) == 1


statuses = st.builds(
    r,
    st.sampled_from(["send", "partly_deliver", "deliver", "read", "expired", "bogus"]),
    st.sampled_from(["", "2011-01-01 12:00:00", "2011-01-01 12:00:05", "junk"]),
)


@given(st.lists(statuses, min_size=1, max_size=10))
def test_replaying_the_events_rebuilds_the_same_state_as_the_fold(arrivals):
    message = None
    for report in arrivals:
        message, _ = receive(message, 42, report, NOW)
    rebuilt = replay(message)
    assert rebuilt.current == message.current == fold(arrivals)
    assert rebuilt.reports == message.reports
    assert len(message.reports) == len({a.identity for a in arrivals})
    assert rebuilt.version == len(arrivals)  # a repeat is recorded (a delivery), not held


def test_event_topics_are_pinned_because_stored_events_name_them():
    # Renaming or moving these classes would make every stored event unreadable.
    assert get_topic(Message.FirstReported) == "tracker.domain.message:Message.FirstReported"
    assert get_topic(Message.StatusReported) == "tracker.domain.message:Message.StatusReported"
    assert get_topic(Message.ReportedAgain) == "tracker.domain.message:Message.ReportedAgain"


def test_quarantine_topics_are_pinned_too():
    assert get_topic(QuarantinedInput.Quarantined) == (
        "tracker.domain.quarantine:QuarantinedInput.Quarantined"
    )
    assert get_topic(QuarantinedInput.ReceivedAgain) == (
        "tracker.domain.quarantine:QuarantinedInput.ReceivedAgain"
    )


# Stored by the first version of the tracker (events declared with the library's @event
# decorator), timestamps aside: what is in the stores now must stay readable, and be written
# the same way.
FIRST_VERSION = [
    (
        "tracker.domain.message:Message.FirstReported",
        b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T19:03:33.731857+00:00"},'
        b'"originator_topic":"tracker.domain.message:Message","id_sms":5,"state":"send",'
        b'"time":"2024-05-01 10:00:00","instant":{"_type_":"datetime_iso","_data_":'
        b'"2024-05-01T07:00:00+00:00"},"received_at":{"_type_":"datetime_iso","_data_":'
        b'"2024-05-01T07:00:01+00:00"},"outcome":"applied","raw":null}',
    ),
    (
        "tracker.domain.message:Message.StatusReported",
        b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T19:03:33.732089+00:00"},'
        b'"id_sms":5,"state":"deliver","time":"2024-05-01 10:00:05","instant":{"_type_":'
        b'"datetime_iso","_data_":"2024-05-01T07:00:05+00:00"},"received_at":{"_type_":'
        b'"datetime_iso","_data_":"2024-05-01T07:00:06+00:00"},"outcome":"applied","raw":null}',
    ),
]


def library_mapper() -> Mapper:
    transcoder = JSONTranscoder()
    Application.register_transcodings(None, transcoder)  # type: ignore[arg-type]
    return Mapper(transcoder)


def test_events_stored_by_the_first_version_are_read_into_the_same_message():
    mapper, message = library_mapper(), None
    for version, (topic, state) in enumerate(FIRST_VERSION, 1):
        stored = StoredEvent(message_id(5), version, topic, state)
        message = mapper.to_domain_event(stored).mutate(message)
    assert (message.id_sms, message.version, message.current.state) == (5, 2, "deliver")
    assert [r.state for r in message.reports] == ["send", "deliver"]


def test_events_are_still_stored_as_the_first_version_stored_them():
    utc = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
    message = Message.first_report(
        5, Report("send", "2024-05-01 10:00:00", utc(2024, 5, 1, 7, 0)), utc(2024, 5, 1, 7, 0, 1)
    )
    message.report(
        Report("deliver", "2024-05-01 10:00:05", utc(2024, 5, 1, 7, 0, 5)), utc(2024, 5, 1, 7, 0, 6)
    )
    mapper = library_mapper()
    added = b',"id_sent":null,"reason":null,"raw_encoding":null}'  # fields added since, at the end
    for event, (topic, state) in zip(message.collect_events(), FIRST_VERSION, strict=True):
        stored = mapper.to_stored_event(event)
        without_timestamp = stored.state.split(b"},", 1)[1]
        assert (stored.topic, without_timestamp) == (topic, state.split(b"},", 1)[1][:-1] + added)
