"""The message aggregate: one event per distinct report, outcomes decided at receipt, replayable."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.codec import decode, encode
from tracker.domain.events import (
    EVENTS,
    Envelope,
    Quarantined,
    QuarantinedAgain,
    Reported,
    ReportedAgain,
)
from tracker.domain.ids import MAX_ID_SMS, id_sms_in, id_sms_of, message_id
from tracker.domain.message import Message, Sent
from tracker.domain.quarantine import QuarantinedInput, quarantine_id
from tracker.domain.status import Report, fold
from tracker.domain.timestamps import parse_time, zone

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MOSCOW = zone("Europe/Moscow")


def r(state: str, time: str = "") -> Report:
    return Report(state, time, parse_time(time, MOSCOW))


def events_of(message: Message) -> list:
    return [envelope.event for envelope in message.collect_events()]


def test_the_aggregate_id_is_derived_from_id_sms_alone():
    assert message_id(3234) == message_id(3234) != message_id(3235)
    assert Message(3234).id == message_id(3234)


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


@given(st.integers(0, MAX_ID_SMS))
def test_a_message_id_gives_back_its_number(n):
    """The store keeps the number once, in the id: no event repeats it (read back from the
    UUID, or from the 16 bytes a SQLite row holds)."""
    assert id_sms_of(message_id(n)) == n == id_sms_in(int.from_bytes(message_id(n).bytes))


def test_every_distinct_report_is_one_event_and_an_exact_repeat_a_delivery_of_it():
    message = Message(7)
    later = NOW + timedelta(minutes=5)
    outcomes = [
        message.receive(r("send"), NOW),
        message.receive(r("deliver", "2011-01-01 12:00:00"), NOW),
        message.receive(r("deliver", "2011-01-01 12:00:00"), later),
        message.receive(r("deliver", "2011-01-01 12:00:01"), NOW),
    ]
    assert outcomes == ["applied", "applied", None, "superseded"]
    events = events_of(message)
    assert [type(e) for e in events] == [Reported, Reported, ReportedAgain, Reported]
    assert events[2] == ReportedAgain("deliver", "2011-01-01 12:00:00", later, 1)
    assert message.current.time == "2011-01-01 12:00:00"  # a delivery does not move the state
    assert message.version == 4


def test_repeats_received_together_are_one_event_that_counts_them():
    message = Message(7)
    message.receive(r("send", "2011-01-01 12:00:00"), NOW)
    for _ in range(3):
        message.receive(r("send", "2011-01-01 12:00:00"), NOW)
    message.receive(r("send", "2011-01-01 12:00:00"), NOW + timedelta(seconds=1))
    events = events_of(message)
    assert [getattr(e, "times", None) for e in events] == [None, 3, 1]
    assert message.version == 3


def test_a_repeat_keeps_what_its_delivery_said_beyond_the_report():
    message = Message(7)
    report, later = r("deliver", "2011-01-01 12:00:00"), NOW + timedelta(minutes=5)
    message.receive(report, NOW, sent=Sent(channels={"sms": "send"}))
    polled = Sent(source="poll", num_parts=2, price=1.5)
    xml = Sent(channels={"sms": "deliver", "viber": "read"})
    outcomes = [message.receive(report, later, sent=s) for s in (polled, polled, xml)]
    assert outcomes == [None, None, None]  # duplicates: the state and the report untouched
    _, poll, again = events_of(message)
    assert poll == ReportedAgain(report.state, report.time, later, 2, None, "poll", None, 2, 1.5)
    # channels come with the report's instant: the views order a channel's statuses by it
    assert (again.channels, again.instant, again.times) == (xml.channels, report.instant, 1)
    assert message.version == 3


def test_repeats_in_one_request_are_counted_while_they_say_the_same_so_the_last_said_is_last():
    message = Message(7)
    report = r("deliver", "2011-01-01 12:00:00")
    message.receive(report, NOW)
    for sms in ("x", "x", "y", "x"):
        message.receive(report, NOW, sent=Sent(channels={"sms": sms}))
    _, *again = events_of(message)
    assert [(e.channels["sms"], e.times) for e in again] == [("x", 2), ("y", 1), ("x", 1)]


def test_events_carry_the_raw_values_the_instant_the_receipt_time_and_the_outcome():
    message = Message(9)
    message.receive(r("read", "2011-01-01 12:57:46"), NOW, raw='{"x": 1}', sent=Sent("009"))
    message.receive(r("deliver", "2011-01-01 12:58:00"), NOW)
    created, rejected = message.collect_events()
    assert (created.originator_id, created.originator_version) == (message_id(9), 1)
    assert created.event == Reported(
        "read",
        "2011-01-01 12:57:46",
        datetime(2011, 1, 1, 9, 57, 46, tzinfo=UTC),
        NOW,
        "applied",
        '{"x": 1}',
        "009",
    )
    assert (rejected.event.state, rejected.event.outcome, rejected.event.raw) == (
        "deliver",
        "rejected",
        None,
    )


def test_unknown_states_are_held_but_set_no_state():
    message = Message(1)
    assert message.receive(r("queued", "2011-01-01 12:00:00"), NOW) == "unknown_state"
    assert message.current is None and not message.final
    assert message.identities == (("queued", "2011-01-01 12:00:00"),)


statuses = st.builds(
    r,
    st.sampled_from(["send", "partly_deliver", "deliver", "read", "expired", "bogus"]),
    st.sampled_from(["", "2011-01-01 12:00:00", "2011-01-01 12:00:05", "junk"]),
)


@given(st.lists(statuses, min_size=1, max_size=30), st.randoms())
def test_replaying_the_stored_events_decides_nothing_and_rebuilds_the_same_message(arrivals, rnd):
    message = Message(42)
    for n, report in enumerate(arrivals):
        message.receive(report, NOW + timedelta(seconds=rnd.choice([0, n])))
    stored = [
        Envelope(e.originator_id, e.originator_version, decode(e.event.TOPIC, encode(e.event)))
        for e in message.collect_events()
    ]
    rebuilt = Message.replay(42, stored)
    assert rebuilt == message
    assert rebuilt.current == fold(arrivals)
    assert len(set(rebuilt.identities)) == len({a.identity for a in arrivals})


@given(st.lists(statuses, min_size=1, max_size=30), st.randoms())
def test_the_state_is_the_same_whatever_the_order_the_reports_arrive_in(arrivals, rnd):
    shuffled = list(arrivals)
    rnd.shuffle(shuffled)
    one, other = Message(1), Message(1)
    for report in arrivals:
        one.receive(report, NOW)
    for report in shuffled:
        other.receive(report, NOW)
    assert one.current == other.current == fold(arrivals)
    assert one.final == other.final


def test_event_topics_are_pinned_because_stored_rows_name_them():
    # Changing one would make every stored event of its kind unreadable.
    assert {e.__name__: e.TOPIC for e in EVENTS} == {
        "Reported": "r1",
        "ReportedAgain": "a1",
        "Quarantined": "q1",
        "QuarantinedAgain": "qa1",
        "Registered": "g1",
    }


UTC_1 = datetime(2024, 5, 1, 7, 0, 1, tzinfo=UTC)
SENT = datetime(2024, 5, 1, 7, tzinfo=UTC)
PINNED = [  # the stored form of each kind of event, which must never change
    (
        Reported("send", "2024-05-01 10:00:00", SENT, UTC_1, "applied"),
        "95a473656e64b3323032342d30352d30312031303a30303a3030d6ff6631e870d6ff6631e871a76170706c696564",
    ),
    (
        Reported("read", "2024-05-01 10:00:00", SENT, UTC_1, "applied", source="poll",
                 channels={"sms": "not_deliver", "viber": "read"}, num_parts=2, price=10.6),
        "9da472656164b3323032342d30352d30312031303a30303a3030d6ff6631e870d6ff6631e871a76170706c696564c0c0c0c0a4706f6c6c82a3736d73ab6e6f745f64656c69766572a57669626572a47265616402cb4025333333333333",
    ),
    (
        ReportedAgain("send", "2024-05-01 10:00:00", UTC_1, 2),
        "94a473656e64b3323032342d30352d30312031303a30303a3030d6ff6631e87102",
    ),
    (
        ReportedAgain("read", "2024-05-01 10:00:00", UTC_1, 1, None, "poll",
                      num_parts=2, price=10.6),
        "99a472656164b3323032342d30352d30312031303a30303a3030d6ff6631e87101c0a4706f6c6cc002cb4025333333333333",
    ),
    (
        ReportedAgain("read", "2024-05-01 10:00:00", UTC_1, 1,
                      channels={"viber": "read"}, instant=SENT),
        "9aa472656164b3323032342d30352d30312031303a30303a3030d6ff6631e87101c0c081a57669626572a472656164c0c0d6ff6631e870",
    ),
    (
        Quarantined("item", "{}", "no id_sms", UTC_1),
        "94a46974656da27b7da96e6f2069645f736d73d6ff6631e871",
    ),
    (QuarantinedAgain("no id_sms", UTC_1), "92a96e6f2069645f736d73d6ff6631e871"),
]  # fmt: skip
# As 540a276 (2026-12-06) stored them, every field written out: still read as the same events.
STORED_WHOLE = [
    (
        PINNED[0][0],
        "99a473656e64b3323032342d30352d30312031303a30303a3030d6ff6631e870d6ff6631e871a76170706c696564c0c0c0c0",
    ),
    (PINNED[2][0], "95a473656e64b3323032342d30352d30312031303a30303a3030d6ff6631e87102c0"),
    (PINNED[5][0], "95a46974656da27b7da96e6f2069645f736d73d6ff6631e871a57574662d38"),
]  # fmt: skip


@pytest.mark.parametrize(("event", "stored"), PINNED, ids=[type(e).__name__ for e, _ in PINNED])
def test_events_are_stored_as_pinned_and_read_back_equal(event, stored):
    assert encode(event).hex() == stored
    assert decode(event.TOPIC, bytes.fromhex(stored)) == event


@pytest.mark.parametrize(("event", "stored"), STORED_WHOLE, ids=lambda v: type(v).__name__)
def test_events_stored_with_every_field_written_read_back_equal(event, stored):
    assert decode(event.TOPIC, bytes.fromhex(stored)) == event


def test_a_quarantined_input_is_one_aggregate_its_repeats_receipts_of_it():
    key = quarantine_id("item", "{}")
    item = QuarantinedInput(key)
    first = item.receive("item", "{}", "utf-8", "no id_sms", NOW)
    again = item.receive("item", "{}", "utf-8", "no id_sms", NOW + timedelta(seconds=1))
    assert first == Envelope(key, 1, Quarantined("item", "{}", "no id_sms", NOW))
    assert again == Envelope(key, 2, QuarantinedAgain("no id_sms", NOW + timedelta(seconds=1)))
