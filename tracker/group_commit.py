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
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from tracker.application import Batch, Receipt, StoreUnavailable, Tracker

log = logging.getLogger("tracker.writer")


@dataclass(slots=True)
class _Pending:
    batch: Batch
    future: Future[Receipt]


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
        self.max_reports = max_reports  # a group closes once it holds this many reports
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tracker-writer", daemon=True)
        self._started = threading.Lock()
        self.groups = 0  # transactions committed or attempted, for tests and metrics

    def submit(self, batch: Batch) -> Future[Receipt]:
        """Queue a batch; the future resolves to its receipt once it is committed."""
        with self._started:
            if not self._thread.is_alive():
                self._thread.start()
        future: Future[Receipt] = Future()
        # Running from the start: a caller that stops waiting (asyncio cancels the future it
        # awaited when the request's task is cancelled) cannot cancel it under the writer,
        # whose thread would then die answering it.
        future.set_running_or_notify_cancel()
        self._queue.put(_Pending(batch, future))
        return future

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group, stop = self._gather(first)  # type: ignore[arg-type]
            self._commit(group)
            if stop:
                return

    def _gather(self, first: _Pending) -> tuple[list[_Pending], bool]:
        group = [first]
        size = len(first.batch.statuses)
        while size < self.max_reports:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return group, True
            group.append(item)  # type: ignore[arg-type]
            size += len(item.batch.statuses)  # type: ignore[union-attr]
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
            pending.future.set_result(receipt)
