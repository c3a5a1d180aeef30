"""The embedded store: eventsourcing's SQLite recorder on a WAL file with synchronous=FULL.

An acknowledged status must survive a power cut, so every connection commits with a full fsync
of the write-ahead log, whatever the SQLite build's default is.
"""

from __future__ import annotations

from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory
from eventsourcing.utils import Environment, EnvType

DURABILITY_PRAGMAS = ("PRAGMA synchronous=FULL",)


class DurableSQLiteConnectionPool(SQLiteConnectionPool):
    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        for pragma in DURABILITY_PRAGMAS:
            connection._sqlite_conn.execute(pragma)
        return connection


class DurableSQLiteFactory(SQLiteFactory):
    """SQLiteFactory whose connections are WAL (the library's doing) and synchronous=FULL."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        plain = self.datastore.pool
        self.datastore.pool = DurableSQLiteConnectionPool(
            db_name=plain.db_name,
            lock_timeout=plain.lock_timeout,
            pool_size=plain.pool_size,
            max_overflow=plain.max_overflow,
            pool_timeout=plain.pool_timeout,
            max_age=plain.max_age,
            pre_ping=plain.pre_ping,
        )
        plain.close()
