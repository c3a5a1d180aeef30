"""Whole rows of the SQLite events table, for the audit: each value as its bytes, its type checked.

The audit tree hashes rows exactly as stored (tracker/audit/leaves.py), so these reads take
nothing on trust: a value of another type than this store writes, or a notification id that is
not the row's own, is said, not read past.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID


class WholeRows:
    """Mixed into the SQLite recorder: ``self.datastore`` and ``self.events_table_name``."""

    datastore: Any
    events_table_name: str

    def select_log(self, after: int | None, end: int) -> list:
        """Whole rows (notification id, originator id as 16 bytes, version, topic, state) with
        notification ids in (after, end], in log order: what the audit tree hashes (``after``
        None: from the lowest)."""
        if after is None:
            return self._log("WHERE notification_id <= ? ", (end,))
        return self._log("WHERE notification_id > ? AND notification_id <= ? ", (after, end))

    def rows_out_of_order(self) -> int:
        """Rows the log's order does not reach: a notification id that is not the row's own
        rowid (NULL, text, another number), which only a table rebuilt by hand can hold."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT COUNT(*) FROM {self.events_table_name} WHERE notification_id IS NULL "
                "OR typeof(notification_id) != 'integer' OR notification_id != rowid"
            )
            return cursor.fetchone()[0]  # type: ignore[no-any-return]

    def next_notification_id(self, after: int) -> int | None:
        """The lowest notification id above ``after`` (None: none): a reader of the log in
        windows steps over a wide gap at once."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT MIN(notification_id) FROM {self.events_table_name} "
                "WHERE notification_id > ?",
                (after,),
            )
            return cursor.fetchone()[0]  # type: ignore[no-any-return]

    def select_log_of(self, originator_id: UUID, after: int = -1, limit: int = -1) -> list:
        """One aggregate's whole rows, as ``select_log``, in version order: those of versions
        above ``after``, at most ``limit`` (-1: all)."""
        return self._log(
            "WHERE originator_id = ? AND originator_version > ? ",
            (key_bytes(originator_id), after, limit),
            "originator_version LIMIT ?",
        )

    def _log(self, where: str, params: tuple, order: str = "notification_id") -> list:
        """Each value as its bytes whatever SQLite holds it as: a file edited by hand may hold
        text where a blob was (``state || x'00'`` is text), and the audit must read it, not
        fail on it; a row whose values are not of the types this store writes is marked so
        (``_as_typed``), since the same bytes as another type are another row."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.sqlite_cursor.row_factory = None
            cursor.execute(
                "SELECT notification_id, CAST(originator_id AS BLOB), originator_version, "
                "CAST(topic AS BLOB), CAST(state AS BLOB), typeof(originator_id) || ',' || "
                "typeof(originator_version) || ',' || typeof(topic) || ',' || typeof(state) "
                f"FROM {self.events_table_name} {where}ORDER BY {order}",
                params,
            )
            return [_as_typed(row) for row in cursor.fetchall()]


STORED_TYPES = "blob,integer,text,blob"  # SQLite's typeof() of what this store writes


def _as_typed(row: tuple) -> tuple:
    """(notification id, originator id, version, topic, state); a row holding a value of
    another type than this store writes has a version that is no integer, naming the types."""
    nid, originator, version, topic, state, types = row
    if types != STORED_TYPES or originator is None or topic is None or state is None:
        version = f"stored as {types}, where this store writes {STORED_TYPES}"
    return nid, originator, version, (topic or b"").decode(errors="surrogateescape"), state or b""


def key_bytes(originator_id: UUID | str) -> bytes:
    """An id as the table stores it: its 16 bytes."""
    return (originator_id if isinstance(originator_id, UUID) else UUID(originator_id)).bytes
