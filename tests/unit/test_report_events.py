"""The webhook's writer stores report events without building them: the rows it makes must be
the very rows the library's mapper makes from the Message aggregate's events, byte for byte,
but for the fields added later, which it writes only when they have a value."""

from __future__ import annotations

from dataclasses import astuple
from datetime import UTC, datetime, timedelta

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Mapper
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.message import NOT_SENT, Held, Message, Sent, receive
from tracker.domain.status import RANKS, Report
from tracker.domain.timestamps import parse_time, zone
from tracker.report_events import ReportEvents

ADDED = ("id_sent", "reason", "raw_encoding")  # fields added to report events later

MOSCOW = zone("Europe/Moscow")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def library_mapper() -> Mapper:
    transcoder = JSONTranscoder()
    Application.register_transcodings(None, transcoder)  # type: ignore[arg-type]
    return Mapper(transcoder)


MAPPER = library_mapper()

states = st.sampled_from([*RANKS, "queued", "", "délivré", 'x"y\\z'])
times = st.one_of(
    st.sampled_from(["", "2024-05-01 10:00:00", "2024-02-30 10:00:00", "soon"]),
    st.builds(lambda s: f"2024-05-01 10:{s // 60:02d}:{s % 60:02d}", st.integers(0, 3599)),
)
raws = st.one_of(st.none(), st.text(max_size=20))
reasons = st.one_of(st.none(), st.sampled_from(["the key state is given 2 times", 'x"\\']))
sents = st.one_of(
    st.just(NOT_SENT),
    st.builds(Sent, st.one_of(st.none(), st.text("0123456789", min_size=1, max_size=5)),
              st.one_of(st.none(), st.just("base64"))),
)  # fmt: skip
arrival = st.tuples(states, times, raws, st.integers(0, 10**6), reasons, sents)


@given(st.integers(0, 2**63 - 1), st.lists(arrival, max_size=15))
def test_the_writers_rows_are_the_rows_of_the_aggregates_events(id_sms, arrivals):
    held, message, rows = Held(id_sms), None, ReportEvents(remember=4)
    for state, time, raw, micros, reason, sent in arrivals:
        instant = None if reason else parse_time(time, MOSCOW)
        report = Report(state, time, instant, reason)
        received_at = T0 + timedelta(microseconds=micros)
        message, expected_outcome = receive(message, id_sms, report, received_at, raw, sent)
        outcome = held.take(report)
        assert outcome == expected_outcome
        if outcome is None:  # an exact repeat: a delivery of a held report, at the same version
            [again] = message.collect_events()
            assert isinstance(again, Message.ReportedAgain) and again.identity == report.identity
            assert held.again() == again.originator_version
            continue
        [event] = message.collect_events()
        stamps = rows.stamp(received_at), rows.stamp(event.timestamp)
        row = rows.stored(held, report, outcome, raw, *stamps, sent)
        expected = MAPPER.to_stored_event(event)
        assert msgspec.structs.astuple(row)[:3] == astuple(expected)[:3]
        assert row.state == without_empty_added_fields(expected.state)
        assert MAPPER.to_domain_event(expected) == MAPPER.to_domain_event(row)
    if message is not None:
        assert (held.version, held.current, set(held.identities)) == (
            message.version, message.current, {r.identity for r in message.reports},
        )  # fmt: skip


def without_empty_added_fields(state: bytes) -> bytes:
    """The mapper's bytes with each added field that is null left out, as the writer leaves it."""
    for field in ADDED:
        state = state.replace(b',"%s":null' % field.encode(), b"")
    return state
