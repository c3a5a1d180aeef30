"""The request log on SQLite: a file of its own beside the events (``var/tracker.requests.db``).

Several server processes write it, each from one writer thread: WAL, a busy timeout, and write
transactions that begin IMMEDIATE (ids are taken as the highest plus one, under the lock). Its
records are diagnostics, not acknowledged data: synchronous=NORMAL (a power cut may lose the
last ones, never tear one).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import msgspec
from eventsourcing.persistence import OperationalError

from tracker.request_log.records import Record, RequestFilter, instant
from tracker.stores.request_tables import (
    COLUMNS,
    IDS_TABLE,
    TABLE,
    RequestSQL,
    numbered,
    prune,
    record_of,
    row_of,
)

SQL = RequestSQL()
VALUES = ", ".join("?" * len(COLUMNS.split(", ")))


def requests_file(database: str) -> str:
    """``var/tracker.db`` -> ``var/tracker.requests.db``."""
    path = Path(database)
    return str(path.with_name(f"{path.stem}.requests{path.suffix or '.db'}"))


class SQLiteRequests:
    """The request log's tables in their file: one connection per thread that uses it."""

    def __init__(self, path: str, *, timeout: float = 5.0, create: bool = True):
        self.path, self.timeout = path, timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if create:
            with self._write() as c:
                for statement in SQL.create("INTEGER", "BLOB", " WITHOUT ROWID"):
                    c.execute(statement)

    def _write(self) -> _Transaction:
        return _Transaction(self._connection())

    def _read(self) -> _Transaction:
        return _Transaction(self._connection(), read=True)

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            try:
                connection = sqlite3.connect(
                    self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
                )
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute("PRAGMA cache_size=-16384")  # 16 MiB: the id index's pages
            except sqlite3.Error as e:
                raise OperationalError(f"the request log {self.path}: {e}") from e
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    def insert(self, records: Sequence[Record]) -> list[int]:
        with self._write() as c:
            first = c.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {TABLE}").fetchone()[0]
            ids = list(range(first, first + len(records)))
            c.executemany(
                f"INSERT INTO {TABLE} ({COLUMNS}) VALUES ({VALUES})",
                [row_of(r, i) for r, i in zip(records, ids, strict=True)],
            )
            # A request's numbers in one statement, unpacked by SQLite itself (a row at a time
            # from Python costs half as much again, and hands the interpreter's lock back and
            # forth with the event loop; pairs unpacked with json_extract, twice as much).
            for record, request_id in zip(records, ids, strict=True):
                if record.ids:
                    c.execute(
                        f"INSERT OR IGNORE INTO {IDS_TABLE} (id_sms, request) "
                        "SELECT value, ? FROM json_each(?)",
                        [request_id, msgspec.json.encode(sorted(set(record.ids)))],
                    )
        return ids

    def page(self, where: RequestFilter, before: int | None, limit: int) -> list[Record]:
        statement, params = SQL.page(where, before, limit)
        with self._read() as c:
            rows = c.execute(statement, params).fetchall()
            pairs = _numbers_of(c, [row[0] for row in rows])
        return numbered(rows, pairs)

    def get(self, request_id: int) -> Record | None:
        with self._read() as c:
            row = c.execute(SQL.get(), [request_id]).fetchone()
            if row is None:
                return None
            numbers = [n for (n,) in c.execute(SQL.numbers(), [request_id])]
        return record_of(row, numbers)

    def carrying(self, id_sms: int) -> list[tuple[int, datetime, datetime]]:
        with self._read() as c:
            rows = c.execute(SQL.carrying(), [id_sms]).fetchall()
        return [(i, instant(r), instant(a)) for i, r, a in rows]

    def prune(self, older_than: datetime, max_bytes: int) -> int:
        with self._write() as c:
            return prune(c, SQL, older_than, max_bytes)

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()
        self._local = threading.local()


def _numbers_of(c: sqlite3.Connection, ids: list[int]) -> list:
    pairs: list = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        pairs += c.execute(SQL.numbers_of_page(len(chunk)), chunk).fetchall()
    return pairs


class _Transaction:
    """A transaction on the thread's connection: IMMEDIATE to write, deferred to read."""

    def __init__(self, connection: sqlite3.Connection, read: bool = False):
        self.connection, self.read = connection, read

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.connection.execute("BEGIN" if self.read else "BEGIN IMMEDIATE")
        except sqlite3.Error as e:  # locked past the timeout
            raise OperationalError(str(e)) from e
        return self.connection

    def __exit__(self, kind: object, error: object, _: object) -> None:
        try:
            self.connection.execute("ROLLBACK" if kind else "COMMIT")
        except sqlite3.Error as e:
            raise OperationalError(str(e)) from e
        if isinstance(error, sqlite3.Error):  # as the event store says it: a 503, not a 500
            raise OperationalError(str(error)) from error


def open_requests(database: str, *, timeout: float, create: bool) -> SQLiteRequests:
    """The request log beside the SQLite event store in ``database``."""
    return SQLiteRequests(requests_file(database), timeout=timeout, create=create)
