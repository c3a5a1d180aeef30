"""The request log on PostgreSQL: tables in the event store's schema, a pool of their own."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg.rows import tuple_row

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

SEQUENCE = TABLE + "_id_seq"  # the records' ids (taken before their rows are copied in)


class PostgresRequestSQL(RequestSQL):
    placeholder = "%s"

    def __init__(self, schema: str):
        self.schema = schema

    def table(self, name: str) -> str:
        return f'"{self.schema}"."{name}"'

    def numbers_of_page(self, n: int) -> str:
        return f"SELECT request, id_sms FROM {self.table(IDS_TABLE)} WHERE request = ANY(%s)"


class PostgresRequests:
    """The request log's tables; its connections are its own (at most ``connections``), so its
    writer and readers never wait for the event store's."""

    def __init__(self, datastore: PostgresDatastore, *, create: bool = True):
        self.datastore = datastore
        self.sql = PostgresRequestSQL(datastore.schema or "public")
        if create and not self._created():
            with self._cursor(commit=True) as c:
                for statement in self.sql.create("BIGINT", "BYTEA"):
                    c.execute(statement)
                c.execute(f"CREATE SEQUENCE IF NOT EXISTS {self.sql.table(SEQUENCE)}")

    def _created(self) -> bool:
        """Whether the tables are there (made once: ``CREATE INDEX IF NOT EXISTS`` needs
        ownership even when the index exists, and the append-only role does not own them)."""
        with self._cursor(commit=False) as c:
            c.execute("SELECT to_regclass(%s) IS NOT NULL", [self.sql.table(IDS_TABLE)])
            return bool(c.fetchone()[0])

    @contextmanager
    def _cursor(self, *, commit: bool) -> Iterator[Any]:
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(force_rollback=not commit),
        ):
            yield conn.cursor(row_factory=tuple_row)

    def insert(self, records: Sequence[Record]) -> list[int]:
        sequence = self.sql.table(SEQUENCE)
        with self._cursor(commit=True) as c:
            c.execute(f"SELECT nextval('{sequence}') FROM generate_series(1, %s)", [len(records)])
            ids = sorted(i for (i,) in c.fetchall())
            with c.copy(f"COPY {self.sql.table(TABLE)} ({COLUMNS}) FROM STDIN") as copy:
                for record, request_id in zip(records, ids, strict=True):
                    copy.write_row(row_of(record, request_id))
            # A request's numbers as one array in the text PostgreSQL reads: psycopg dumps a
            # list an element at a time in Python (a pattern search each: most of the writer's
            # time), and sorting a batch's pairs cost a third of it again.
            c.executemany(
                f"INSERT INTO {self.sql.table(IDS_TABLE)} (id_sms, request) "
                "SELECT unnest(%s::bigint[]), %s ON CONFLICT DO NOTHING",
                [(_array(set(r.ids)), i) for r, i in zip(records, ids, strict=True) if r.ids],
            )
        return ids

    def page(self, where: RequestFilter, before: int | None, limit: int) -> list[Record]:
        statement, params = self.sql.page(where, before, limit)
        with self._cursor(commit=False) as c:
            rows = c.execute(statement, params).fetchall()
            pairs = c.execute(self.sql.numbers_of_page(0), [[r[0] for r in rows]]).fetchall()
        return numbered(rows, pairs)

    def get(self, request_id: int) -> Record | None:
        with self._cursor(commit=False) as c:
            row = c.execute(self.sql.get(), [request_id]).fetchone()
            if row is None:
                return None
            numbers = [n for (n,) in c.execute(self.sql.numbers(), [request_id]).fetchall()]
        return record_of(row, numbers)

    def carrying(self, id_sms: int) -> list[tuple[int, datetime, datetime]]:
        with self._cursor(commit=False) as c:
            rows = c.execute(self.sql.carrying(), [id_sms]).fetchall()
        return [(i, instant(r), instant(a)) for i, r, a in rows]

    def prune(self, older_than: datetime, max_bytes: int) -> int:
        with self._cursor(commit=True) as c:
            return prune(c, self.sql, older_than, max_bytes)

    def close(self) -> None:
        self.datastore.close()


def _array(numbers: Iterable[int]) -> str:
    return "{" + ",".join(map(str, numbers)) + "}"


def open_requests(env: dict[str, str], *, connections: int, create: bool) -> PostgresRequests:
    """The request log in the schema of the store these settings (``bootstrap.Location.env``)
    name, on a pool of its own."""
    datastore = PostgresDatastore(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        schema=env.get("POSTGRES_SCHEMA", ""),
        connect_timeout=float(env.get("POSTGRES_CONNECT_TIMEOUT") or 3),
        lock_timeout=int(env.get("POSTGRES_LOCK_TIMEOUT") or 5),
        pool_size=1,
        max_overflow=max(0, connections - 1),
        pre_ping=True,
    )
    lock_ms = int(env.get("POSTGRES_LOCK_TIMEOUT") or 5) * 1000
    datastore.pool.kwargs["options"] = f"-c lock_timeout={lock_ms} -c statement_timeout=60000"
    try:
        return PostgresRequests(datastore, create=create)
    except BaseException:
        datastore.close()
        raise
