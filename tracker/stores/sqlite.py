"""The embedded store: eventsourcing's SQLite recorder on a WAL file with synchronous=FULL.

An acknowledged status must survive a power cut, so every connection commits with a full fsync
of the write-ahead log, whatever the SQLite build's default is. Write transactions begin
IMMEDIATE: one that reads first (the views' compare-and-set) and then writes would otherwise
fail at once with "database is locked" whenever another process wrote in between, instead of
waiting its turn for the write lock.

``WriterTurns`` makes the writer processes of one SQLite file take turns at the whole
load-decide-save of a group of batches, so that they never clash over a message's version.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import OperationalError, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
    SQLiteTransaction,
)
from eventsourcing.utils import Environment, EnvType

from tracker.memo import Memo

DURABILITY_PRAGMAS = ("PRAGMA synchronous=FULL",)
# The views are derived: a power cut may undo their last commits (rows and tracking position
# together, so they are projected again), never tear one. WAL with NORMAL promises exactly that.
VIEWS_PRAGMAS = ("PRAGMA synchronous=NORMAL",)


class ImmediateTransaction(SQLiteTransaction):
    """A write transaction that takes the write lock at BEGIN (waiting the lock timeout)."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE" if self.commit else "BEGIN")
        except sqlite3.OperationalError as e:  # locked: as the library says it from a commit
            raise OperationalError(e) from e
        return cursor


class DurableSQLiteConnection(SQLiteConnection):
    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[SQLiteCursor]:
        with ImmediateTransaction(self, commit=commit) as curs, curs:
            yield curs


class DurableSQLiteConnectionPool(SQLiteConnectionPool):
    pragmas = DURABILITY_PRAGMAS

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        for pragma in self.pragmas:
            connection._sqlite_conn.execute(pragma)
        # The library builds the connection (WAL, timeouts, max-age timer); ours only changes
        # how it begins transactions and adds no state, so the instance is re-classed, not copied.
        connection.__class__ = DurableSQLiteConnection
        return connection


class ManyAtOnceSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's recorder, plus the events of many aggregates in one query, many events
    inserted in one statement, and ``check_last``: a look at the log's last event under the
    write lock, before the insert (the writer's receipt clock must not fall behind it)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The library's insert statement with n rows of values, by n.
        self._inserts = Memo(self._insert_rows, ROWS_PER_INSERT)

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        check_last: Callable[[bytes], None] | None = None,
        **_: Any,
    ) -> Sequence[int] | None:
        """Many rows per ``INSERT`` (``ROWS_PER_INSERT``) rather than the library's ``execute``
        per event: each statement is a round through SQLite's engine and lets another thread
        take the interpreter lock, which the writer then waits to get back (a row at a time,
        the lock changed hands hundreds of times a group). The rows' ids are consecutive: each
        row takes the table's largest rowid plus one, and the transaction holds SQLite's write
        lock (BEGIN IMMEDIATE) throughout, so no other row comes between.
        """
        if not stored_events:
            return []
        if check_last is not None:  # under the write lock (BEGIN IMMEDIATE): no row can follow
            c.execute(f"SELECT state FROM {self.events_table_name} ORDER BY rowid DESC LIMIT 1")
            last = c.fetchone()
            if last is not None:
                check_last(last["state"])
        hexes = _HEXES
        for start in range(0, len(stored_events), ROWS_PER_INSERT):
            chunk = stored_events[start : start + ROWS_PER_INSERT]
            values = [
                value
                for e in chunk
                for value in (hexes[e.originator_id], e.originator_version, e.topic, e.state)
            ]
            c.execute(self._inserts[len(chunk)], values)
        c.execute("SELECT last_insert_rowid()")
        last = c.fetchone()[0]
        return list(range(last - len(stored_events) + 1, last + 1))

    def _insert_rows(self, n: int) -> str:
        return self.insert_events_statement + ",(?,?,?,?)" * (n - 1)

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of these aggregates, each aggregate's in version order."""
        found: list[StoredEvent] = []
        with self.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(originator_ids), IN_LIST):
                part = [_HEXES[i] for i in originator_ids[start : start + IN_LIST]]
                cursor.execute(
                    "SELECT originator_id, originator_version, topic, state "
                    f"FROM {self.events_table_name} WHERE originator_id IN "
                    f"({','.join('?' * len(part))}) ORDER BY originator_id, originator_version",
                    part,
                )
                found.extend(_stored(row, self.convert_originator_id) for row in cursor.fetchall())
        return found

    def select_last_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """The last event of each of these aggregates that has one: one index look-up each,
        however many events an aggregate has (a quarantined item received 100,000 times)."""
        found: list[StoredEvent] = []
        table = self.events_table_name
        with self.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(originator_ids), IN_LIST):
                part = [_HEXES[i] for i in originator_ids[start : start + IN_LIST]]
                cursor.execute(
                    f"WITH ids(id) AS (VALUES {','.join(['(?)'] * len(part))}) "
                    "SELECT e.originator_id, e.originator_version, e.topic, e.state "
                    f"FROM ids JOIN {table} e ON e.originator_id = ids.id AND "
                    f"e.originator_version = (SELECT MAX(originator_version) FROM {table} "
                    "WHERE originator_id = ids.id)",
                    part,
                )
                found.extend(_stored(row, self.convert_originator_id) for row in cursor.fetchall())
        return found

    def last_notification_of(self, originator_id: UUID) -> int | None:
        """The notification id of this aggregate's last event (None: it has none)."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT rowid FROM {self.events_table_name} WHERE originator_id = ? "
                "ORDER BY originator_version DESC LIMIT 1",
                (_hex(originator_id),),
            )
            row = cursor.fetchone()
        return None if row is None else row[0]


def _stored(row: Any, convert: Callable[[Any], UUID]) -> StoredEvent:
    return StoredEvent(
        originator_id=convert(row["originator_id"]),
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=row["state"],
    )


def _hex(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


# An id as SQLite stores it, by id: a batch's messages come back within seconds.
_HEXES = Memo(_hex, 1 << 14)


ROWS_PER_INSERT = 200  # 800 values: under the 999 that older SQLite builds allow a statement
IN_LIST = 500  # ids per query (SQLite's default limit on parameters is 999 in old builds)


class DurableSQLiteFactory(SQLiteFactory):
    """SQLiteFactory whose connections are WAL (the library's doing) and synchronous=FULL."""

    application_recorder_class = ManyAtOnceSQLiteRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        plain = self.datastore.pool
        self.datastore.pool = _pool_like(plain, DurableSQLiteConnectionPool, plain.db_name)
        plain.close()


def _pool_like(
    plain: SQLiteConnectionPool, pool_class: type[SQLiteConnectionPool], db_name: str
) -> SQLiteConnectionPool:
    """A pool of ``pool_class`` on ``db_name`` with the library-built pool's settings."""
    return pool_class(
        db_name=db_name,
        lock_timeout=plain.lock_timeout,
        pool_size=plain.pool_size,
        max_overflow=plain.max_overflow,
        pool_timeout=plain.pool_timeout,
        max_age=plain.max_age,
        pre_ping=plain.pre_ping,
    )


class ViewsConnectionPool(DurableSQLiteConnectionPool):
    pragmas = VIEWS_PRAGMAS


def views_file(database: str) -> str:
    """Where the views of a SQLite event store live: a file of their own beside it
    (``var/tracker.db`` -> ``var/tracker.views.db``), so that the projector's commits never
    hold the lock the event writers wait for."""
    path = Path(database)
    return str(path.with_name(f"{path.stem}.views{path.suffix or '.db'}"))


def views_datastore(events: SQLiteDatastore) -> SQLiteDatastore:
    """A datastore on the views file, with the event store's timeouts and pool size."""
    path = views_file(events.pool.db_name)
    datastore = SQLiteDatastore(db_name=path)
    datastore.pool.close()
    datastore.pool = _pool_like(events.pool, ViewsConnectionPool, path)
    return datastore


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

    def __call__(self) -> bool:
        self._elected = self._elected or self.lock.try_lock()  # once held, held for life
        return self._elected
