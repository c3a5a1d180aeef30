"""A migration's view of a SQLite store (``stores.migration``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tracker.stores import legacy
from tracker.stores.migration import LegacyTables


class SQLiteLegacyTables(LegacyTables):
    legacy_table = legacy.SQLITE_TABLE
    mark = "?"

    def key(self, originator_id: UUID) -> bytes:
        return originator_id.bytes  # stores.sqlite keeps ids as 16 bytes

    def has_table(self, cursor: Any, table: str) -> bool:
        statement = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
        return bool(self.one(cursor, statement, (table,)))

    def page(self, cursor: Any, after: int, size: int) -> list[legacy.LegacyRow]:
        return next(legacy.sqlite_pages(cursor.sqlite_cursor, after, size), [])

    def head(self, cursor: Any) -> int:
        return legacy.sqlite_head(cursor.sqlite_cursor)
