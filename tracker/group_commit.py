"""Group commit: one writer thread per process commits concurrent batches together.

Requests that arrive while a commit is under way wait in a queue; the writer takes all of them
(up to a bound) into the next transaction. So concurrent requests never race each other for the
same messages (no version clashes within a process), one fsync serves many requests, and each
request is still answered only after the transaction holding its batch has committed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from tracker.application import Batch, Receipt, StoreUnavailable, Tracker

log = logging.getLogger("tracker.writer")


@dataclass(slots=True)
class _Pending:
    """A batch on its way to a commit: the whole of it, or a slice of a large one (then its
    other slices follow it, one commit at a time, and the receipt covers them all)."""

    batch: Batch
    future: Future[Receipt]
    rest: Batch | None = None  # what is still to come of a large batch after this slice
    stored: set[int] = field(default_factory=set)  # ids stored by its slices so far
    missed: set[int] = field(default_factory=set)  # ids some slice could not store
    receipts: list[Receipt] = field(default_factory=list)

    def take(self, receipt: Receipt) -> Receipt | None:
        """This slice's receipt; the whole batch's once the last slice is in, else None."""
        if not self.rest and not self.receipts:  # the common case: one batch, one commit
            return receipt
        self.receipts.append(receipt)
        self.stored |= receipt.stored
        self.missed |= {s.id_sms for s in self.batch.statuses} - receipt.stored
        self.missed |= {r.id_sms for r in self.batch.registrations} - receipt.stored
        if self.rest:
            return None
        outcomes: Counter[str] = Counter()
        registrations: Counter[str] = Counter()
        for r in self.receipts:
            outcomes.update(r.outcomes)
            registrations.update(r.registrations)
        return Receipt(
            stored=frozenset(self.stored - self.missed),  # every item of an id, or not the id
            outcomes=dict(outcomes),
            duplicates=sum(r.duplicates for r in self.receipts),
            quarantined=sum(r.quarantined for r in self.receipts),
            attempts=max(r.attempts for r in self.receipts),
            registrations=dict(registrations),
        )

    def next_slice(self, size: int) -> _Pending:
        """The next slice of the large batch, carrying what the earlier ones stored."""
        self.batch, self.rest = _sliced(self.rest, size)  # type: ignore[arg-type]
        return self


def _items(batch: Batch) -> int:
    """What a batch gives the writer to do: its statuses, registrations and quarantined input."""
    return len(batch.statuses) + len(batch.registrations) + len(batch.unusable)


def _sliced(batch: Batch, size: int) -> tuple[Batch, Batch | None]:
    """The first ``size`` items of a batch (statuses first, then registrations, then
    quarantined input), and the rest (None when nothing is left)."""
    statuses = batch.statuses[:size]
    registrations = batch.registrations[: max(0, size - len(statuses))]
    unusable = batch.unusable[: max(0, size - len(statuses) - len(registrations))]
    rest = Batch(
        batch.statuses[len(statuses) :],
        batch.unusable[len(unusable) :],
        batch.received_at,
        batch.registrations[len(registrations) :],
    )
    first = Batch(statuses, unusable, batch.received_at, registrations)
    return first, (rest if _items(rest) else None)


_STOP = object()


class GroupCommit:
    """Accepts batches from any thread; commits them on its own thread, in arrival order."""

    def __init__(
        self,
        tracker: Tracker,
        max_reports: int = 5000,
        on_commit: Callable[[], None] | None = None,
    ):
        self.tracker = tracker
        self.on_commit = on_commit  # told after every commit (the live projection wakes up)
        self.max_reports = max_reports  # a group closes once it holds this many items
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tracker-writer", daemon=True)
        self._started = threading.Lock()
        self.groups = 0  # transactions committed or attempted, for tests and metrics

    def submit(self, batch: Batch) -> Future[Receipt]:
        """Queue a batch; the future resolves to its receipt once it is committed.

        A batch of more than ``max_reports`` items (statuses and quarantined input) is
        committed a slice of that many at a time, each slice queued again behind whatever
        other batches came meanwhile: one large body never holds the writer for longer than
        one group, and other senders are served between its slices. Its receipt comes once
        every slice is committed (an id whose items span slices is acknowledged only if all of
        them were stored); should a slice fail, the whole batch fails (its earlier slices stay
        stored: a resend finds them duplicates)."""
        with self._started:
            if not self._thread.is_alive():
                self._thread.start()
        future: Future[Receipt] = Future()
        # Running from the start: a caller that stops waiting (asyncio cancels the future it
        # awaited when the request's task is cancelled) cannot cancel it under the writer,
        # whose thread would then die answering it.
        future.set_running_or_notify_cancel()
        if _items(batch) > self.max_reports:
            first, rest = _sliced(batch, self.max_reports)
            self._queue.put(_Pending(first, future, rest=rest))
        else:
            self._queue.put(_Pending(batch, future))
        return future

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        stopping = False  # once asked to stop: commit what is queued (the rest of large
        while True:  # batches included, which their slices' commits queue again), then stop
            try:
                first = self._queue.get(block=not stopping)
            except queue.Empty:
                return
            if first is _STOP:
                stopping = True
                continue
            group, stop = self._gather(first)  # type: ignore[arg-type]
            stopping = stopping or stop
            self._commit(group)

    def _gather(self, first: _Pending) -> tuple[list[_Pending], bool]:
        group = [first]
        size = _items(first.batch)
        while size < self.max_reports:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return group, True
            group.append(item)  # type: ignore[arg-type]
            size += _items(item.batch)  # type: ignore[union-attr]
        return group, False

    def _commit(self, group: list[_Pending]) -> None:
        self.groups += 1
        try:
            receipts = self.tracker.record_batches([p.batch for p in group])
        except StoreUnavailable as e:
            for pending in group:
                pending.future.set_exception(e)
            return
        except Exception:
            if len(group) == 1:
                log.exception("a batch could not be recorded")
                group[0].future.set_exception(StoreUnavailable("the batch could not be recorded"))
                return
            # Something in one batch broke the whole group: commit them one by one, so only
            # the batch at fault fails (and the platform sends it again).
            log.exception("a group of %d batches failed; committing them one by one", len(group))
            for pending in group:
                self._commit([pending])
            return
        if self.on_commit:
            self.on_commit()
        for pending, receipt in zip(group, receipts, strict=True):
            whole = pending.take(receipt)
            if whole is not None:
                pending.future.set_result(whole)
            else:  # the next slice of a large batch, behind what came meanwhile
                self._queue.put(pending.next_slice(self.max_reports))
