"""A migration's view of a PostgreSQL store (``stores.migration``)."""

from __future__ import annotations

from typing import Any

from tracker.stores import legacy
from tracker.stores.migration import LegacyTables


class PostgresLegacyTables(LegacyTables):
    legacy_table = legacy.POSTGRES_TABLE
    mark = "%s"
    for_update = " FOR UPDATE"  # two runs at once take turns (SQLite's lock is taken at BEGIN)

    def __init__(self, datastore: Any):
        self.schema = datastore.schema or "public"
        super().__init__(datastore)

    def name(self, table: str) -> str:
        return f'"{self.schema}"."{table}"'

    def has_table(self, cursor: Any, table: str) -> bool:
        return bool(self.one(cursor, "SELECT to_regclass(%s) IS NOT NULL", (self.name(table),)))

    def page(self, cursor: Any, after: int, size: int) -> list[legacy.LegacyRow]:
        pages = legacy.postgres_pages(cursor.connection, self.schema, after, size)
        return next(pages, [])

    def head(self, cursor: Any) -> int:
        return legacy.postgres_head(cursor.connection, self.schema)

    def finish(self, cursor: Any, position: int) -> None:
        """The events table's sequence goes on after the last id converted; the library's
        insert function goes if it still writes into the old table (making this version's
        table replaced it, and the composite type it takes is the same for both tables)."""
        self.one(cursor, "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s, %s)",
                 (self.events, max(position, 1), position > 0))  # fmt: skip
        cursor.execute(
            "SELECT p.oid::regprocedure::text AS name FROM pg_proc p JOIN pg_namespace n ON "
            "n.oid = p.pronamespace WHERE n.nspname = %s AND p.prosrc LIKE %s",
            (self.schema, f'%"{self.legacy_table}"%'),
        )
        for row in cursor.fetchall():
            cursor.execute(f"DROP FUNCTION {row['name']}")  # regprocedure: quoted, qualified
