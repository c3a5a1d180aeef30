"""The change view: each change of a message's state, keyed by the position that made it.

Written by the projector in the transaction of the other views (views/store.py), so its rows
are always a prefix of the log's changes: a row is never seen before every row of a lower
position is. Views made before this view existed get it empty when they are opened, with the
position from which it is complete (``changes_complete_from``); `tracker rebuild` fills it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracker.views.projection import Change
from tracker.views.tables import ViewTables, from_micros, micros

CHANGE_COLUMNS = (
    "position", "id_sms", "previous", "state", "final", "time", "instant", "received_at",
    "source",
)  # fmt: skip
# The tracking row that says from which position the live change view is complete (absent: from
# the first): views made before it existed got it empty at the position they had reached.
COMPLETE_FROM_KEY = "tracker.views.changes_from"


def create_statement(tables: ViewTables, suffix: str) -> str:
    i = tables.id_type  # positions, ids, and instants as integer microseconds since 1970 (UTC)
    return (
        f"CREATE TABLE IF NOT EXISTS {tables.table('changes' + suffix)} (position {i} PRIMARY KEY, "
        f"id_sms {i} NOT NULL, previous TEXT, state TEXT NOT NULL, final INTEGER NOT NULL, "
        f"time TEXT NOT NULL, instant {i}, received_at {i} NOT NULL, source TEXT)"
    )


def index_statement(tables: ViewTables) -> str:
    """The live view's index for one message's changes (``id_sms=`` in GET /changes)."""
    return (
        f"CREATE INDEX IF NOT EXISTS changes_id_sms ON {tables.table('changes')} (id_sms, position)"
    )


def change_values(change: Change) -> tuple:
    return (
        change.position,
        change.id_sms,
        change.previous,
        change.state,
        int(change.final),
        change.time,
        micros(change.instant),
        micros(change.received_at),
        change.source,
    )


def change_of_record(record: Any) -> Change:
    return Change(
        record["position"],
        record["id_sms"],
        record["previous"],
        record["state"],
        bool(record["final"]),
        record["time"],
        from_micros(record["instant"]),
        from_micros(record["received_at"]),  # type: ignore[arg-type]
        record["source"],
    )


class ChangeReads:
    """The change view's reads, mixed into ``ViewStore``."""

    tables: ViewTables

    def changes_after(self, position: int, limit: int, id_sms: int | None = None) -> list[Change]:
        """The live change view's rows with position > ``position``, in position order, at most
        ``limit`` of them (committed with the views' tracking position: a row is never seen
        before every row of a lower position is); with ``id_sms``, that message's only."""
        p = self.tables.placeholder
        where, params = f"position > {p}", [position]
        if id_sms is not None:
            where, params = f"id_sms = {p} AND {where}", [id_sms, position]
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                f"SELECT * FROM {self.tables.table('changes')} WHERE {where} "
                f"ORDER BY position LIMIT {p}",
                [*params, limit],
            )
            return [change_of_record(r) for r in cursor.fetchall()]

    def changes_head(self) -> int:
        """The highest position in the change view, 0 when it is empty."""
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(f"SELECT MAX(position) AS n FROM {self.tables.table('changes')}")
            record = cursor.fetchone()
        return (record["n"] if record else None) or 0

    def changes_complete_from(self) -> int:
        """The position after which the live change view holds every change (0: all of them).
        Views made before the change view existed got it empty at the position they had
        reached; nothing before it is there until `tracker rebuild` builds the views afresh."""
        return self.max_tracking_id(COMPLETE_FROM_KEY) or 0  # type: ignore[attr-defined]


def write_changes(tables: ViewTables, cursor: Any, suffix: str, changes: Sequence[Change]) -> None:
    """Insert change rows, in the caller's transaction (by COPY where the store has it)."""
    values = [change_values(c) for c in changes]
    tables.insert_rows(cursor, tables.table("changes" + suffix), CHANGE_COLUMNS, values)
