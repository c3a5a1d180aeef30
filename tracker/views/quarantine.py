"""Reading the quarantine view: a page of the most recently received items, or one item whole."""

from __future__ import annotations

from typing import Any

from tracker.views.tables import ViewTables


class QuarantineReads:
    """The quarantine view's reads, mixed into ``ViewStore``."""

    tables: ViewTables

    def list_quarantine(
        self, limit: int, after: tuple[str, str] | None = None, cut: int | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """How many distinct items are quarantined, and a page of them, the most recently received
        first: ``limit`` items after the (last_received_at, quarantine_id) ``after``. With ``cut``,
        each ``raw`` holds its first ``cut`` characters; ``raw_bytes`` is always the whole
        item's size in bytes (UTF-8)."""
        table, p = self.tables.table("quarantine"), self.tables.placeholder
        raw = "raw" if cut is None else f"SUBSTR(raw, 1, {int(cut)}) AS raw"
        size = self.tables.byte_length("raw")
        where, arguments = "", [limit]
        if after is not None:
            where = (
                f"WHERE (last_received_at < {p} "
                f"OR (last_received_at = {p} AND quarantine_id > {p})) "
            )
            arguments = [after[0], after[0], after[1], limit]
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(f"SELECT COUNT(*) AS n FROM {table}")
            total = cursor.fetchone()["n"]
            cursor.execute(
                f"SELECT quarantine_id, kind, {raw}, {size} AS raw_bytes, encoding, receipts, "
                f"first_received_at, last_received_at, reason FROM {table} {where}"
                f"ORDER BY last_received_at DESC, quarantine_id LIMIT {p}",
                arguments,
            )
            return total, [dict(r) for r in cursor.fetchall()]

    def quarantined(self, quarantine_id: str) -> dict[str, Any] | None:
        """One quarantined item, whole."""
        table, size = self.tables.table("quarantine"), self.tables.byte_length("raw")
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                f"SELECT quarantine_id, kind, raw, {size} AS raw_bytes, encoding, receipts, "
                f"first_received_at, last_received_at, reason FROM {table} "
                f"WHERE quarantine_id = {self.tables.placeholder}",
                (quarantine_id,),
            )
            record = cursor.fetchone()
        return dict(record) if record else None
