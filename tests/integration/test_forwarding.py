"""Delivering changes to a real HTTP receiver, the position kept on a real store (SQLite file,
PostgreSQL): in order, at least once, with the same id on every attempt at a batch, one
forwarder at a time per endpoint. The changes come from a list (tests/forwarding_feed.py);
tests/e2e/test_forwarding_serve.py runs the same against `tracker serve` and its change view."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from tests.forwarding_feed import T0, Feed
from tests.forwarding_receiver import Receiver
from tracker.bootstrap import open_views
from tracker.forwarding.delivery import endpoint_key
from tracker.forwarding.forwarder import HOST, Forwarder, ForwardSettings
from tracker.forwarding.signing import new_secret
from tracker.forwarding.state import ForwardingState, LeaseLost

SECRET = new_secret()


@pytest.fixture
def state(tracker):
    return ForwardingState(open_views(tracker))


def settings(**kwargs) -> ForwardSettings:
    return ForwardSettings(**{"secret": SECRET, "batch": 4, "timeout": 1.0, "most_wait": 1.0,
                              "start": "start", **kwargs})  # fmt: skip


def run_until(forwarder: Forwarder, receiver: Receiver, positions: int) -> list[dict]:
    forwarder.start()
    try:
        return receiver.wait_for(positions)
    finally:
        forwarder.stop()


def begun(state: ForwardingState, receiver: Receiver) -> None:
    """Wait (up to 10 s) until the forwarder has made its endpoint's row."""
    deadline = time.monotonic() + 10
    while state.get(endpoint_key(receiver.url)) is None and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_receiver_that_fails_twice_then_accepts_gets_every_change_in_order_signed(state):
    feed = Feed()
    made = feed.add(5)  # 10 changes: 3 batches of 4
    with Receiver([500, "hang"], hang=2.0) as receiver:
        forwarder = Forwarder(receiver.url, feed, state, settings())
        got = run_until(forwarder, receiver, len(made))
    assert [c["position"] for c in got] == [c.position for c in made]  # each once, in order
    first, again, third = receiver.requests[:3]
    assert (first.answered, again.answered, third.answered) == (500, None, 200)
    assert first.id == again.id == third.id and first.body == again.body == third.body
    receiver.check_signatures(SECRET)
    row = state.get(endpoint_key(receiver.url))
    assert (row.position, row.pending, row.failures, row.failing) == (made[-1].position, 0, 2, 0)
    assert row.attempts == len(receiver.requests) == 5 and row.last_status == 200
    assert "token" not in row.endpoint and row.endpoint.endswith("/hooks?...")


def test_an_answer_whose_body_never_ends_delivers_without_being_read(state):
    feed = Feed()
    made = feed.add(4)  # 8 changes: 2 batches of 4, each answered 200 and a body without end
    with Receiver(["endless", "endless"], hang=60.0) as receiver:
        forwarder = Forwarder(receiver.url, feed, state, settings())
        got = run_until(forwarder, receiver, len(made))
    assert [c["position"] for c in got] == [c.position for c in made]
    assert len(receiver.requests) == 2  # each delivered at its first attempt
    row = state.get(endpoint_key(receiver.url))
    assert (row.position, row.failures, row.last_status) == (made[-1].position, 0, 200)


def test_a_restart_resumes_from_the_durable_position_and_sends_the_batch_in_flight_again(state):
    feed = Feed()
    made = feed.add(6)
    with Receiver(["hang"] * 100, hang=1.5) as receiver:
        first = Forwarder(receiver.url, feed, state, settings())
        first.start()
        deadline = time.monotonic() + 10
        while len(receiver.requests) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.stop()  # "killed" with its batch in flight, never answered
        sent = receiver.requests[0]
        feed.add(2)  # more changes meanwhile: the batch in flight stays as it was
        receiver.script.clear()
        second = Forwarder(receiver.url, feed, state, settings(batch=50))
        got = run_until(second, receiver, len(feed.changes))
    assert receiver.accepted[0].id == sent.id and receiver.accepted[0].body == sent.body
    assert [c["position"] for c in got] == [c.position for c in feed.changes]
    assert len(made) == 12


def test_an_endpoint_seen_first_with_start_now_begins_at_the_feeds_head(state):
    feed = Feed()
    feed.add(3)
    with Receiver() as receiver:
        forwarder = Forwarder(receiver.url, feed, state, settings(start="now"))
        forwarder.start()
        try:
            begun(state, receiver)
            later = feed.add(1)
            forwarder.wake()
            got = receiver.wait_for(2)
        finally:
            forwarder.stop()
    assert [c["position"] for c in got] == [c.position for c in later]


def test_two_forwarders_of_one_endpoint_never_deliver_at_once_and_skip_nothing(state):
    feed = Feed()
    feed.add(20)
    with Receiver() as receiver:
        a = Forwarder(receiver.url, feed, state, settings(batch=3), holder="a")
        b = Forwarder(receiver.url, feed, state, settings(batch=3), holder="b")
        a.start()
        b.start()
        try:
            got = receiver.wait_for(len(feed.changes))
        finally:
            a.stop()
            b.stop()
    assert receiver.most_in_flight == 1
    assert [c["position"] for c in got] == [c.position for c in feed.changes]


def test_the_position_moves_by_compare_and_set_under_a_lease(state):
    key = endpoint_key("https://crm.example/in")
    row = state.begin(key, "https://crm.example/in", 7)
    assert state.begin(key, "https://crm.example/in", 99).position == 7  # the first one stands
    lease = T0 + timedelta(seconds=60)
    state.attempt(row, "a", 12, T0, lease)
    with pytest.raises(LeaseLost):  # b while a's lease runs
        state.attempt(row, "b", 12, T0 + timedelta(seconds=1), lease)
    state.delivered(row, "a", 204, T0, lease)
    moved = state.get(key)
    assert (moved.position, moved.pending, moved.last_status, moved.attempts) == (12, 0, 204, 1)
    with pytest.raises(LeaseLost):  # from the position it had: it moved on
        state.delivered(row, "a", 200, T0, lease)
    state.attempt(moved, "b", 15, lease + timedelta(seconds=1), lease + timedelta(seconds=60))
    with pytest.raises(LeaseLost):  # a's lease ran out and b took it: a records nothing
        state.failed(moved, "a", 500, "HTTP 500", T0, lease)
    state.failed(moved, "b", None, "refused", T0, lease)
    failed = state.get(key)
    assert (failed.position, failed.pending, failed.failures, failed.failing) == (12, 15, 1, 1)
    assert failed.holder == "b" and failed.last_error == "refused"
    state.release(key, "b")
    assert state.get(key).holder is None


def test_a_lease_whose_holder_died_on_this_host_is_taken_over_at_once(state):
    feed = Feed()
    feed.add(2)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    with Receiver() as receiver:
        key = endpoint_key(receiver.url)
        row = state.begin(key, "x", 0)
        far = T0 + timedelta(days=3650)
        state.attempt(row, f"{HOST}:{dead}:killed", feed.changes[1].position, T0, far)
        forwarder = Forwarder(receiver.url, feed, state, settings())
        got = run_until(forwarder, receiver, len(feed.changes))
    assert receiver.accepted[0].id == f"chg_{feed.changes[0].position}_{feed.changes[1].position}"
    assert [c["position"] for c in got] == [c.position for c in feed.changes]


def test_the_sqlite_election_asked_from_many_threads_at_once_elects_this_process(tmp_path):
    from tracker.stores.sqlite.locks import ProjectorElection

    for attempt in range(30):  # the first calls racing, as the projector's and forwarders' do
        election = ProjectorElection(str(tmp_path / f"tracker{attempt}.db"))
        barrier = threading.Barrier(8)
        answers: list[bool] = []

        def ask(election=election, barrier=barrier, answers=answers):
            barrier.wait()
            answers.append(election())

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert election() and any(answers), answers
        election.lock.unlock()


def test_on_a_feed_complete_only_after_a_position_start_now_begins_there_never_before(state):
    feed = Feed()
    feed.complete_from = 40  # views made before the change view existed: nothing before 40
    with Receiver() as receiver:
        forwarder = Forwarder(receiver.url, feed, state, settings(start="now"))
        forwarder.start()
        try:
            begun(state, receiver)
            assert state.get(endpoint_key(receiver.url)).position == 40
            feed.add(1, start=10)  # a rebuild filling the changes before 40: never sent
            later = feed.add(1, start=50)
            forwarder.wake()
            got = receiver.wait_for(2)
        finally:
            forwarder.stop()
    assert [c["position"] for c in got] == [c.position for c in later]


def test_on_a_feed_complete_only_after_a_position_start_waits_for_the_rebuild(state, caplog):
    feed = Feed()
    made = feed.add(2, start=50)
    feed.complete_from = 40
    with Receiver() as receiver:
        forwarder = Forwarder(receiver.url, feed, state, settings())
        assert forwarder.step()[0] > 0 and state.get(endpoint_key(receiver.url)) is None
        assert "tracker rebuild" in caplog.text and not receiver.requests
        earlier = feed.add(1, start=1)  # the rebuild: the whole feed, complete from 0
        feed.changes.sort(key=lambda c: c.position)
        feed.complete_from = 0
        got = run_until(forwarder, receiver, len(made) + len(earlier))
    assert [c["position"] for c in got] == sorted(c.position for c in made + earlier)
