"""The views of a PostgreSQL store: in the event store's schema, written by COPY."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder

from tracker.views.store import ViewStore
from tracker.views.tables import DELIVERY_COLUMNS, MESSAGE_COLUMNS, MESSAGE_UPDATES, ViewTables


class PostgresTables(ViewTables):
    placeholder = "%s"
    id_type = "BIGINT"
    real_type = "DOUBLE PRECISION"
    blob_type = "BYTEA"

    def __init__(self, schema: str):
        self.schema = schema

    def table(self, name: str) -> str:
        return f'"{self.schema}"."{name}"'

    def byte_length(self, column: str) -> str:
        return f"OCTET_LENGTH({column})"

    def select_in(self, table: str, column: str, n: int) -> str:
        return f"SELECT * FROM {table} WHERE {column} = ANY(%s)"

    def in_params(self, values: Sequence[Any]) -> Sequence[Any]:
        return [list(values)]

    def write_messages(self, cursor: Any, suffix: str, values: Sequence[tuple]) -> None:
        """COPY into a session's temporary table, then one INSERT ... ON CONFLICT from it:
        psycopg's executemany costs tens of microseconds of Python a row (half a rebuild's
        time, measured), COPY a few."""
        table = self.table("messages" + suffix)
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} (LIKE {table}) ON COMMIT DELETE ROWS"
        )
        columns = ", ".join(MESSAGE_COLUMNS)
        with cursor.copy(f"COPY {STAGE} ({columns}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {STAGE} "
            f"ON CONFLICT (id_sms) DO UPDATE SET {MESSAGE_UPDATES}"
        )
        cursor.execute(f"TRUNCATE {STAGE}")  # a later write in this transaction starts empty

    def insert_rows(
        self, cursor: Any, table: str, columns: Sequence[str], values: Sequence[tuple]
    ) -> None:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)

    def write_deliveries(self, cursor: Any, suffix: str, values: Sequence[tuple]) -> None:
        table = self.table("delivery_times" + suffix)
        with cursor.copy(f"COPY {table} ({', '.join(DELIVERY_COLUMNS)}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)


STAGE = "tracker_stage_messages"  # PostgresTables.write_messages' temporary table


class PostgresViews(ViewStore, PostgresTrackingRecorder):
    """The views in the event store's PostgreSQL schema."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any):
        super().__init__(datastore, **kwargs)
        self.tables = PostgresTables(datastore.schema)
        self.tracking_table = f'"{datastore.schema}"."{self.tracking_table_name}"'

    def where(self) -> str | None:
        return None  # in the event store's own schema

    @classmethod
    def reopen(cls, tracker: Any, where: str | None) -> ViewStore:
        return cls(tracker.recorder.datastore)


def open_views(datastore: PostgresDatastore, *, create: bool = True) -> ViewStore:
    """The views in the event store's schema."""
    return PostgresViews(datastore).ready(create=create)
