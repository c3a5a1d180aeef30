"""Group commit: concurrent batches share transactions, and each waits for its own commit."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support import hold_commits
from tracker.application import Batch, Receipt, Status, StoreUnavailable, Unusable
from tracker.domain.quarantine import ITEM
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
    assert [e.event.state for e in tracker.history(1)] == ["send"]  # stored all the same


def test_a_large_batch_is_committed_in_slices_with_other_senders_served_between(tracker):
    """One body never holds the writer for more than one group: a batch of 3 slices lets a
    batch that came after it be committed before its second slice."""
    writer = GroupCommit(tracker, max_reports=100)
    committed: list[list[int]] = []  # the batches' sizes, group by group
    record_batches = tracker.record_batches

    def record(batches):
        committed.append([len(b.statuses) for b in batches])
        return record_batches(batches)

    tracker.record_batches = record
    release = hold_commits(tracker)
    try:
        times = [f"2011-01-01 12:{n // 60:02d}:{n % 60:02d}" for n in range(250)]
        large = writer.submit(
            batch(*(Status(1, "deliver", t) for t in times), Status(2, "send", ""))
        )
        small = writer.submit(batch(Status(3, "send", "")))
        release.set()
        receipts = large.result(timeout=30), small.result(timeout=30)
    finally:
        writer.close()
    assert committed == [[100], [1, 100], [51]]  # the small batch before the second slice
    assert [r.stored for r in receipts] == [frozenset({1, 2}), frozenset({3})]
    assert receipts[0].outcomes == {"applied": 2, "superseded": 249}  # all 251, once each
    assert len(tracker.history(1)) == 250 and len(tracker.history(2)) == 1


def test_an_id_is_acknowledged_only_when_every_slice_holding_it_was_stored(tracker):
    writer = GroupCommit(tracker, max_reports=2)
    record_batches = tracker.record_batches
    slices = iter([record_batches, lambda batches: [Receipt(frozenset())]])  # 2nd: contention

    def record(batches):
        return next(slices, record_batches)(batches)

    tracker.record_batches = record
    try:
        receipt = writer.submit(
            batch(Status(5, "send", ""), Status(6, "send", ""), Status(5, "read", ""))
        ).result(timeout=30)
    finally:
        writer.close()
    assert receipt.stored == {6}  # 5's second item was in the slice that stored nothing


def test_closing_the_writer_commits_every_slice_of_a_large_batch_first(tracker):
    writer = GroupCommit(tracker, max_reports=10)
    future = writer.submit(batch(*(Status(n, "send", "") for n in range(95))))
    writer.close()
    assert future.result(timeout=1).stored == frozenset(range(95))


def test_quarantined_input_counts_toward_a_slice_too(tracker):
    writer = GroupCommit(tracker, max_reports=10)
    committed: list[tuple[int, int]] = []  # statuses, quarantined input: slice by slice
    record_batches = tracker.record_batches

    def record(batches):
        committed.extend((len(b.statuses), len(b.unusable)) for b in batches)
        return record_batches(batches)

    tracker.record_batches = record
    bad = [Unusable(ITEM, str(n), "item is a number, not an object") for n in range(25)]
    try:
        receipt = writer.submit(Batch((Status(1, "send", ""),) * 3, tuple(bad))).result(30)
    finally:
        writer.close()
    assert committed == [(3, 7), (0, 10), (0, 8)]
    assert (receipt.stored, receipt.quarantined) == ({1}, 25)
