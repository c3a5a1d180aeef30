"""The views of a SQLite store: in a file of their own beside the events, and its helpers."""

from __future__ import annotations

import errno
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from tracker.stores.sqlite.events import DurableSQLiteConnectionPool, _pool_like
from tracker.views.store import ViewStore, ViewTables

# The views are derived: a power cut may undo their last commits (rows and tracking position
# together, so they are projected again), never tear one. WAL with NORMAL promises exactly that.
VIEWS_PRAGMAS = ("PRAGMA synchronous=NORMAL",)


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


VIEW_TABLE = "messages"  # a file of views has it (the live views' file, a rebuild's output)
AS_OF_TABLE = "tracker_as_of"  # in a rebuild's output file: the instant its views stand at


class NotADatabase(Exception):
    """A file that is not a SQLite database (or is damaged), in SQLite's words."""


def tables_in(path: str) -> set[str] | None:
    """The tables of a SQLite file, read without creating or changing anything; None when
    there is no such file. Raises ``NotADatabase`` when it is not a SQLite database."""
    file = Path(path)
    if not file.exists():
        return None
    if file.is_dir():
        raise IsADirectoryError(errno.EISDIR, "it is a folder", path)
    uri = f"{file.absolute().as_uri()}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as connection:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {name for (name,) in rows}
    except sqlite3.DatabaseError as e:
        raise NotADatabase(str(e)) from e


def note_as_of(path: str, instant: str) -> None:
    """Write into a rebuild's output file the instant its views stand at."""
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(f"CREATE TABLE IF NOT EXISTS {AS_OF_TABLE} (instant TEXT NOT NULL)")
        connection.execute(f"DELETE FROM {AS_OF_TABLE}")
        connection.execute(f"INSERT INTO {AS_OF_TABLE} VALUES (?)", [instant])


def noted_as_of(path: str) -> str | None:
    """The instant ``note_as_of`` wrote into a views file, if it did."""
    uri = f"{Path(path).absolute().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as connection:
        try:
            row = connection.execute(f"SELECT instant FROM {AS_OF_TABLE}").fetchone()
        except sqlite3.OperationalError:  # no such table: written before the note existed
            return None
    return row[0] if row else None


class SQLiteViews(ViewStore, SQLiteTrackingRecorder):
    """The views in a SQLite file: the one beside the event store, or a rebuild's output."""

    tables = ViewTables()
    tracking_table = "tracking"

    def where(self) -> str | None:
        return str(self.datastore.pool.db_name)

    @classmethod
    def reopen(cls, tracker: Any, where: str | None) -> ViewStore:
        return cls(SQLiteDatastore(db_name=where))


def open_views(events: SQLiteDatastore, *, create: bool = True) -> ViewStore:
    """The views of the store whose events are in ``events``: in their file beside it."""
    return SQLiteViews(views_datastore(events)).ready(create=create)


def open_output_file(path: str) -> SQLiteViews:
    """A view store in a SQLite file of its own (``tracker rebuild --out``)."""
    views = SQLiteViews(SQLiteDatastore(db_name=path))
    views.create_table()
    return views
