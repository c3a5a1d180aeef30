"""Locks on files beside a SQLite store: writers of one file take turns, one process projects.

``WriterTurns`` makes the writer processes of one SQLite file take turns at the whole
load-decide-save of a group of batches, so that they never clash over a message's version.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eventsourcing.persistence import OperationalError


class LockFile:
    """An exclusive lock on a file beside the database, on one descriptor kept open: the OS
    releases it when the holding process dies."""

    def __init__(self, database: str, name: str):
        self.path = Path(f"{database}.{name}.lock")
        self._fd: int | None = None

    def try_lock(self) -> bool:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def unlock(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


class WriterTurns:
    """An exclusive lock on a file beside the database, taken around each write of a group.

    SQLite has one writer at a time anyway; taking turns before loading the messages (not only
    at the insert) means no process decides on a message another is about to change. The wait
    is bounded by the lock timeout; a longer one is an OperationalError (answered 503).
    """

    def __init__(self, database: str, timeout: float):
        self.lock = LockFile(database, "writer")
        self.timeout = timeout
        self._threads = threading.Lock()  # flock is per open file: threads take turns here

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if not self._threads.acquire(timeout=self.timeout):
            raise OperationalError(f"no turn to write within {self.timeout} s (this process)")
        try:
            deadline = time.monotonic() + self.timeout
            while not self.lock.try_lock():
                if time.monotonic() > deadline:
                    raise OperationalError(
                        f"no turn to write within {self.timeout} s: another process holds "
                        f"{self.lock.path}"
                    )
                time.sleep(0.001)
            try:
                yield
            finally:
                self.lock.unlock()
        finally:
            self._threads.release()


class ProjectorElection:
    """Whether this process keeps the views live: the one holding the projector's lock file,
    taken over by another within a poll when its holder dies. Asked before each poll."""

    def __init__(self, database: str):
        self.lock = LockFile(database, "projector")
        self._elected = False
        # Asked from several threads (the projector's, each forwarder's): unguarded, two first
        # calls could each open the lock file, one holding it and the other's False overwriting
        # its True, and the process would then never be elected.
        self._asking = threading.Lock()

    def __call__(self) -> bool:
        with self._asking:
            self._elected = self._elected or self.lock.try_lock()  # once held, held for life
            return self._elected
