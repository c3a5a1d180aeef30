"""The embedded store: eventsourcing's SQLite recorder on a WAL file with synchronous=FULL.

An acknowledged status must survive a power cut, so every connection commits with a full fsync
of the write-ahead log, whatever the SQLite build's default is. Write transactions begin
IMMEDIATE: one that reads first (the views' compare-and-set) and then writes would otherwise
fail at once with "database is locked" whenever another process wrote in between, instead of
waiting its turn for the write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, OperationalError, StoredEvent
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
from tracker.stores.parts import share
from tracker.stores.sqlite.log import WholeRows
from tracker.stores.sqlite.log import key_bytes as _key

EVENTS_TABLE = "events"  # the tracker's events table in a SQLite file
LEGACY_EVENTS_TABLE = "stored_events"  # the library's, where trackers up to 2026-12-06 wrote
DURABILITY_PRAGMAS = ("PRAGMA synchronous=FULL",)


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


class ManyAtOnceSQLiteRecorder(WholeRows, SQLiteApplicationRecorder):
    """The library's recorder on the tracker's own table: ids as 16 bytes (``BLOB``, not the
    library's 32 hexadecimal characters), the notification id a declared ``INTEGER PRIMARY
    KEY`` (so that ``VACUUM`` keeps it); plus the events of many aggregates in one query, many
    events inserted in one statement, and ``check_last``: a look at the log's last event under
    the write lock, before the insert (the writer's receipt clock must not fall behind it)."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, events_table_name)
        self.insert_events_statement = (
            f"INSERT INTO {self.events_table_name} "
            "(originator_id, originator_version, topic, state) VALUES (?,?,?,?)"
        )
        # The insert statement with n rows of values, by n.
        self._inserts = Memo(self._insert_rows, ROWS_PER_INSERT)

    def legacy_tables(self) -> Any:
        """What ``tracker migrate`` asks of this store (``stores.migration``)."""
        from tracker.stores.sqlite.migration import SQLiteLegacyTables

        return SQLiteLegacyTables(self.datastore)

    def open_views(self, *, create: bool = True) -> Any:
        """The views of this store (``stores.sqlite.views``)."""
        from tracker.stores.sqlite.views import open_views

        return open_views(self.datastore, create=create)

    def construct_create_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.events_table_name} ("
            "notification_id INTEGER PRIMARY KEY, originator_id BLOB NOT NULL, "
            "originator_version INTEGER NOT NULL, topic TEXT NOT NULL, state BLOB NOT NULL, "
            "UNIQUE (originator_id, originator_version))"
        ]

    def convert_originator_id(self, originator_id: Any) -> UUID:
        return (
            UUID(bytes=originator_id) if isinstance(originator_id, bytes) else UUID(originator_id)
        )

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        check_last: Callable[[str, bytes], None] | None = None,
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
            c.execute(
                f"SELECT topic, state FROM {self.events_table_name} "
                "ORDER BY notification_id DESC LIMIT 1"
            )
            last = c.fetchone()
            if last is not None:
                check_last(last["topic"], last["state"])
        for start in range(0, len(stored_events), ROWS_PER_INSERT):
            chunk = stored_events[start : start + ROWS_PER_INSERT]
            values = [
                value
                for e in chunk
                for value in (_key(e.originator_id), e.originator_version, e.topic, e.state)
            ]
            c.execute(self._inserts[len(chunk)], values)
        c.execute("SELECT last_insert_rowid()")
        last = c.fetchone()[0]
        return list(range(last - len(stored_events) + 1, last + 1))

    def _insert_rows(self, n: int) -> str:
        return self.insert_events_statement + ",(?,?,?,?)" * (n - 1)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The library's query, on ids stored as bytes."""
        statement = (
            "SELECT originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name} WHERE originator_id = ? "
        )
        params: list[Any] = [_key(originator_id)]
        if gt is not None:
            statement += "AND originator_version > ? "
            params.append(gt)
        if lte is not None:
            statement += "AND originator_version <= ? "
            params.append(lte)
        statement += "ORDER BY originator_version " + ("DESC " if desc else "ASC ")
        if limit is not None:
            statement += "LIMIT ?"
            params.append(limit)
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            return [_stored(row, self.convert_originator_id) for row in cursor.fetchall()]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's query, on the table's declared notification id."""
        conditions, params = [], []
        if start is not None:
            conditions.append(
                "notification_id >= ?" if inclusive_of_start else "notification_id > ?"
            )
            params.append(start)
        if stop is not None:
            conditions.append("notification_id <= ?")
            params.append(stop)
        if topics:
            conditions.append(f"topic IN ({','.join('?' * len(topics))})")
            params += list(topics)
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT * FROM {self.events_table_name} {where}ORDER BY notification_id LIMIT ?",
                [*params, limit],
            )
            return [
                Notification(
                    id=row["notification_id"],
                    originator_id=self.convert_originator_id(row["originator_id"]),
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"],
                )
                for row in cursor.fetchall()
            ]

    def select_rows(self, after: int, end: int, part: tuple[int, int] | None = None) -> list:
        """The rows with notification ids in (after, end] as plain tuples (notification id,
        originator id as 16 bytes, topic, state): what the views read, a sixth faster than the
        library's mappings (measured). With ``part`` (k, n), only the k-th of n shares of the
        aggregates (``stores.parts``); the last byte of an id, as a blob, orders as its value.
        """
        condition = share(part, "substr(originator_id, 16, 1)", lambda byte: f"x'{byte:02x}'")
        with self.datastore.transaction(commit=False) as cursor:
            cursor.sqlite_cursor.row_factory = None
            cursor.execute(
                f"SELECT notification_id, originator_id, topic, state FROM "
                f"{self.events_table_name} "
                f"WHERE notification_id > ? AND notification_id <= ? {condition}"
                "ORDER BY notification_id",
                (after, end),
            )
            return cursor.fetchall()  # type: ignore[no-any-return]

    def select_states_of(self, originator_id: UUID, at_once: int) -> Iterator[list]:
        """One aggregate's (topic, state) rows in version order, ``at_once`` a slice: a long
        history is never fetched, decoded and held by the interpreter all in one go."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.sqlite_cursor.row_factory = None
            cursor.execute(
                f"SELECT topic, state FROM {self.events_table_name} "
                "WHERE originator_id = ? ORDER BY originator_version",
                (_key(originator_id),),
            )
            while rows := cursor.sqlite_cursor.fetchmany(at_once):
                yield rows

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of these aggregates, each aggregate's in version order."""
        found: list[StoredEvent] = []
        with self.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(originator_ids), IN_LIST):
                part = [_key(i) for i in originator_ids[start : start + IN_LIST]]
                cursor.execute(
                    "SELECT originator_id, originator_version, topic, state "
                    f"FROM {self.events_table_name} WHERE originator_id IN "
                    f"({','.join('?' * len(part))}) ORDER BY originator_id, originator_version",
                    part,
                )
                found.extend(
                    _stored(row, _once(self.convert_originator_id)) for row in cursor.fetchall()
                )
        return found

    def select_last_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """The last event of each of these aggregates that has one: one index look-up each,
        however many events an aggregate has (a quarantined item received 100,000 times)."""
        found: list[StoredEvent] = []
        table = self.events_table_name
        with self.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(originator_ids), IN_LIST):
                part = [_key(i) for i in originator_ids[start : start + IN_LIST]]
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
                f"SELECT notification_id FROM {self.events_table_name} WHERE originator_id = ? "
                "ORDER BY originator_version DESC LIMIT 1",
                (_key(originator_id),),
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


def _once(convert: Callable[[Any], UUID]) -> Callable[[Any], UUID]:
    """``convert``, each distinct id converted once (a long history is one id, many rows)."""
    converted: dict[Any, UUID] = {}

    def once(key: Any) -> UUID:
        found = converted.get(key)
        if found is None:
            found = converted[key] = convert(key)
        return found

    return once


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
