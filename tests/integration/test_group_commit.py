"""Group commit: concurrent batches share transactions, and each waits for its own commit."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support import hold_commits
from tracker.application import Batch, Status, StoreUnavailable
from tracker.group_commit import GroupCommit


def batch(*statuses: Status) -> Batch:
    return Batch(tuple(statuses))


def test_concurrent_batches_are_committed_together_and_each_gets_its_receipt(tracker):
    writer = GroupCommit(tracker)
    release = hold_commits(tracker)
    try:
        futures = [
            writer.submit(
                batch(Status(n, "send", ""), Status(1, "deliver", f"2011-01-01 12:00:{n:02d}"))
            )
            for n in range(100, 120)
        ]
        release.set()
        receipts = [f.result(timeout=30) for f in futures]
    finally:
        writer.close()
    assert [r.stored for r in receipts] == [frozenset({n, 1}) for n in range(100, 120)]
    assert writer.groups < 20  # some batches shared a transaction
    assert len(tracker.history(1)) == 20  # every report of every batch is there


def test_a_batch_that_breaks_its_group_fails_alone(tracker):
    writer = GroupCommit(tracker)
    poison = batch(Status(666, "send", ""))
    record_batches = tracker.record_batches
    gate = threading.Event()

    def fail_on_poison(batches):
        gate.wait(5)
        if any(b is poison for b in batches):
            raise ValueError("cannot serialise this batch")
        return record_batches(batches)

    tracker.record_batches = fail_on_poison
    try:
        good = [writer.submit(batch(Status(n, "send", ""))) for n in range(3)]
        bad = writer.submit(poison)
        more = writer.submit(batch(Status(7, "send", "")))
        gate.set()
        assert [f.result(timeout=30).stored for f in [*good, more]] == [{0}, {1}, {2}, {7}]
        with pytest.raises(StoreUnavailable):
            bad.result(timeout=30)
    finally:
        writer.close()
    assert tracker.message(666) is None


def test_when_the_store_fails_every_batch_of_the_group_fails_and_nothing_is_kept(tracker):
    writer = GroupCommit(tracker)

    def store_down(batches):
        raise StoreUnavailable("database is locked")

    tracker.record_batches = store_down
    try:
        futures = [writer.submit(batch(Status(n, "send", ""))) for n in range(5)]
        for future in futures:
            with pytest.raises(StoreUnavailable, match="locked"):
                future.result(timeout=30)
    finally:
        writer.close()


def test_closing_commits_what_is_already_queued(tracker):
    writer = GroupCommit(tracker)
    with ThreadPoolExecutor(4) as pool:
        futures = list(pool.map(lambda n: writer.submit(batch(Status(n, "send", ""))), range(50)))
    writer.close()
    assert all(f.done() for f in futures)
    assert {n for f in futures for n in f.result().stored} == set(range(50))


def test_a_caller_that_stops_waiting_does_not_stop_the_writer(tracker):
    writer = GroupCommit(tracker)
    release = hold_commits(tracker)
    try:
        gone = writer.submit(batch(Status(1, "send", "")))
        gone.cancel()  # what asyncio does to the future a cancelled request task awaited
        release.set()
        after = writer.submit(batch(Status(2, "send", "")))
        assert after.result(timeout=30).stored == {2}
    finally:
        writer.close()
    assert [e.state for e in tracker.history(1)] == ["send"]  # stored all the same
