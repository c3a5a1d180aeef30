"""Handing records to the store off the event loop: a bounded queue, one writer thread, retention.

The webhook's answer is never held up by the request log: a record is queued after the answer
went out (a lock-free append and a flag), and one thread per server process drains the queue in
batches, each batch one transaction. When the queue is full (the store slow, locked or down),
records still queue without their bodies (a note says so, and a counter counts them), and past a
far larger bound they are not kept at all (counted too): memory stays bounded whatever happens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tracker.request_log.records import BODY_DROPPED_QUEUE, Record, RequestStore, noted

log = logging.getLogger("tracker")

BATCH = 500  # records a transaction at most
QUEUED_BODY_BYTES = 64 * 1024 * 1024  # bodies waiting at most (beyond: queued without them)
QUEUED_RECORDS = 100_000  # records waiting at most (beyond: not kept, counted)
PRUNE_EVERY = 60.0  # seconds between two prunes
# Seconds between two transactions at least: under load each stores many records at once, so
# the index of message numbers is written a page at a time, not a record at a time.
DRAIN_EVERY = 1.0
RETRY_AFTER = 0.5  # seconds before a failed batch is tried again


class RequestLog:
    """The request log of one server process: ``put`` from any thread, never waiting."""

    def __init__(
        self,
        store: RequestStore,
        *,
        keep: timedelta,
        max_bytes: int,
        on_dropped: Callable[[str], None] | None = None,
        queued_body_bytes: int = QUEUED_BODY_BYTES,
        queued_records: int = QUEUED_RECORDS,
        prune_every: float = PRUNE_EVERY,
        drain_every: float = DRAIN_EVERY,
    ):
        self.store, self.keep, self.max_bytes = store, keep, max_bytes
        self.on_dropped = on_dropped or (lambda _: None)
        self.queued_body_bytes, self.queued_records = queued_body_bytes, queued_records
        self.prune_every, self.drain_every = prune_every, drain_every
        self._hurry = threading.Event()  # flush and close: no pause before the next drain
        self._queue: deque[Record] = deque()
        self._bytes = 0  # bodies queued (changed under _lock)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._failing = False  # the last batch failed (said once, until one is stored again)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="tracker-request-log", daemon=True
            )
            self._thread.start()

    def put(self, record: Record) -> None:
        """Queue a record for the writer thread; never blocks on the store."""
        kept = record.kept
        with self._lock:
            if len(self._queue) >= self.queued_records:
                self.on_dropped("record")
                return
            if kept and self._bytes + kept > self.queued_body_bytes:
                record.body = record.answer = None
                record.note = noted(record.note, BODY_DROPPED_QUEUE)
                self.on_dropped("body")
                kept = 0
            self._bytes += kept
            self._queue.append(record)
            self._idle.clear()
        self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record queued so far is stored (tests, replays, shutdown)."""
        self._hurry.set()
        self._wake.set()
        try:
            return self._idle.wait(timeout)
        finally:
            self._hurry.clear()

    def close(self, timeout: float = 10.0) -> None:
        """Store what is queued (within ``timeout``), then stop the thread and the store."""
        self._stopping = True
        self._hurry.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the request log could not store %d queued record(s)", self.queued())
                return  # the thread still uses the store: it is a daemon, gone with the process
        self.store.close()

    def queued(self) -> int:
        return len(self._queue)

    def _run(self) -> None:
        next_prune = time.monotonic()
        while True:
            self._wake.wait(timeout=1.0)
            self._hurry.wait(self.drain_every)  # gather a batch (not when asked to hurry)
            self._wake.clear()
            self._drain()
            if self._stopping and not self._queue:
                return
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.prune_every
                self.prune()

    def _drain(self) -> None:
        while self._queue:
            batch = [self._queue[i] for i in range(min(BATCH, len(self._queue)))]
            try:
                self.store.insert(batch)
            except Exception as e:  # locked past its timeout, down: kept queued, tried again
                if not self._failing:  # once, not twice a second for as long as it lasts
                    log.warning("request log: %d record(s) not stored yet: %s", len(batch), e)
                self._failing = True
                if self._stopping:
                    self._give_up()
                    return
                time.sleep(RETRY_AFTER)
                continue
            if self._failing:
                self._failing = False
                log.info("request log: records stored again (%d queued)", len(self._queue))
            with self._lock:
                for _ in batch:
                    self._bytes -= self._queue.popleft().kept
                if not self._queue:
                    self._idle.set()

    def _give_up(self) -> None:
        with self._lock:
            for _ in range(len(self._queue)):
                self._queue.popleft()
                self.on_dropped("record")
            self._bytes = 0
            self._idle.set()

    def prune(self) -> int:
        """Retention: bodies past TRACKER_REQUEST_LOG_KEEP or over TRACKER_REQUEST_LOG_MAX_BYTES
        are dropped, their records kept."""
        try:
            return self.store.prune(datetime.now(UTC) - self.keep, self.max_bytes)
        except Exception as e:
            log.warning("request log: pruning failed: %s", e)
            return 0
