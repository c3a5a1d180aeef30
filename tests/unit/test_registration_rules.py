"""A message's registrations: the first stands, the same again records nothing, a different one
is a conflict that never replaces it, a rejected one never stands; and none of it depends on the
order registrations and statuses arrive in."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tracker.codec import decode, encode
from tracker.domain.events import Registered, Reported
from tracker.domain.message import Message
from tracker.domain.registration import CONFLICT, REGISTERED, REJECTED, Registration
from tracker.domain.status import Report, fold
from tracker.domain.timestamps import parse_time, zone

T0 = datetime(2026, 12, 7, tzinfo=UTC)

registrations = st.builds(
    Registration,
    sent_at=st.none() | st.just(T0) | st.just(T0 + timedelta(minutes=1)),
    sender=st.sampled_from([None, "acme", "beta"]),
    campaign=st.sampled_from([None, "xmas"]),
    channel=st.sampled_from([None, "sms"]),
    parts=st.none() | st.integers(1, 3),
    reason=st.sampled_from([None, None, "parts 0 is not from 1 to 255"]),
)
MOSCOW = zone("Europe/Moscow")
reports = st.builds(
    lambda state, time: Report(state, time, parse_time(time, MOSCOW)),
    st.sampled_from(["send", "deliver", "read", "not_deliver", "expired"]),
    st.sampled_from(["2026-12-07 10:00:00", "2026-12-07 11:00:00"]),
)
arrivals = st.lists(
    st.one_of(registrations.map(lambda g: ("g", g)), reports.map(lambda r: ("r", r))),
    max_size=12,
)


def take(message: Message, arrival: tuple[str, object], at: datetime = T0) -> str | None:
    kind, value = arrival
    if kind == "g":
        return message.register(value, at, raw="{}")  # type: ignore[arg-type]
    return message.receive(value, at)  # type: ignore[arg-type]


def fed(items: list[tuple[str, object]]) -> Message:
    message = Message(7)
    for n, item in enumerate(items):
        take(message, item, T0 + timedelta(seconds=n))
    return message


def first_readable(items: list[tuple[str, object]]) -> Registration | None:
    return next(
        (g for k, g in items if k == "g" and g.reason is None),  # type: ignore[union-attr]
        None,
    )


@given(registrations)
def test_the_same_registration_again_appends_nothing(registration):
    message = Message(7)
    first = message.register(registration, T0)
    assert first == (REJECTED if registration.reason else REGISTERED)
    assert len(message.collect_events()) == 1
    assert message.register(registration, T0 + timedelta(hours=1)) is None
    assert message.collect_events() == []


@given(registrations, registrations)
def test_a_different_registration_is_a_conflict_and_never_replaces_the_first(a, b):
    a = Registration(a.sent_at, a.sender, a.campaign, a.channel, a.parts)  # readable
    message = Message(7)
    message.register(a, T0)
    outcome = message.register(b, T0)
    if b == a:
        assert outcome is None
    else:
        assert outcome == (REJECTED if b.reason else CONFLICT)
    assert message.registration == a


@given(st.lists(registrations, max_size=8))
def test_a_rejected_registration_never_stands(items):
    message = Message(7)
    for g in items:
        message.register(g, T0)
    assert message.registration is None or message.registration.reason is None
    readable = [g for g in items if g.reason is None]
    assert message.registration == (readable[0] if readable else None)


@given(arrivals, st.randoms(use_true_random=False))
def test_the_state_and_the_registration_are_the_same_whatever_the_order_of_arrival(items, rnd):
    shuffled = list(items)
    rnd.shuffle(shuffled)
    a, b = fed(items), fed(shuffled)
    assert {x for x in items if x[0] == "g"} == {x for x in shuffled if x[0] == "g"}
    assert a.current == b.current == fold([r for k, r in items if k == "r"])  # type: ignore[misc]
    # Which one stands is the first readable in arrival order; that one exists in both or
    # in neither, and every distinct registration is held in both.
    assert (a.registration is None) == (b.registration is None)
    assert a.registration == first_readable(items)
    assert b.registration == first_readable(shuffled)
    assert set(a.registrations) == set(b.registrations) == {g for k, g in items if k == "g"}


@given(arrivals)
def test_replaying_the_stored_events_gives_the_message_as_it_was_live(items):
    live = fed(items)
    stored = [decode(e.event.TOPIC, encode(e.event)) for e in live.collect_events()]
    replayed = Message(7)
    for event in stored:
        replayed.apply(event)
    assert replayed.registration == live.registration
    assert set(replayed.registrations) == set(live.registrations)
    assert replayed.current == live.current
    # and a replayed message decides the next arrival as the live one does
    for item in items:
        assert take(replayed, item) == take(live, item)


@given(arrivals)
def test_registrations_never_change_what_a_report_decides(items):
    with_them, without = Message(7), Message(7)
    for item in items:
        outcome = take(with_them, item)
        if item[0] == "r":
            assert outcome == take(without, item)
    assert with_them.current == without.current


def test_a_rejected_registration_keeps_its_raw_item_and_a_readable_one_does_not():
    message = Message(7)
    message.register(Registration(sender="a"), T0, raw='{"id_sms": 7, "sender": "a"}')
    message.register(Registration(reason="parts is a string"), T0, raw='{"parts": "x"}')
    first, second = (e.event for e in message.collect_events())
    assert type(first) is Registered and first.raw is None and first.outcome == REGISTERED
    assert second.raw == '{"parts": "x"}' and second.outcome == REJECTED


def test_eighty_thousand_registrations_of_one_message_cost_linear_time():
    def run(n: int) -> float:
        message = Message(7)
        started = time.perf_counter()
        for i in range(n):
            message.register(Registration(parts=1 + i % 255, sender=str(i)), T0)
            message.register(Registration(parts=1, sender="0"), T0)  # the first, again
        message.collect_events()
        return time.perf_counter() - started

    small, large = run(8_000), run(80_000)
    assert large < 25 * small + 0.5  # ten times the work: about ten times the time, not 100


def test_a_registration_event_does_not_count_as_a_report():
    message = Message(7)
    message.register(Registration(sender="a"), T0)
    report = Report("send", "2026-12-07 10:00:00", parse_time("2026-12-07 10:00:00", MOSCOW))
    assert message.receive(report, T0) == "applied"
    kinds = Counter(type(e.event) for e in message.collect_events())
    assert kinds == {Registered: 1, Reported: 1}
