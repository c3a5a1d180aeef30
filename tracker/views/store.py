"""Reading and writing the views with their tracking row, on any store.

Every page of events is written in one transaction together with the position it reached
(eventsourcing's tracking recorders), so a crash anywhere neither skips nor double-counts.
The tables and their SQL are in views/tables.py; each store's package mixes ``ViewStore`` into
its tracking recorder (stores/sqlite/views.py, stores/postgres/views.py).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, PersistenceError, Tracking

from tracker.views import breakdown as breakdown_view
from tracker.views import changes as change_view
from tracker.views.breakdown import INCOMPLETE_KEY, BreakdownReads
from tracker.views.changes import COMPLETE_FROM_KEY, ChangeReads
from tracker.views.projection import Change, Delivery, MessageRow, QuarantineFact
from tracker.views.quarantine import QuarantineReads
from tracker.views.rows import checksum_values, delivery_values, message_row, message_values
from tracker.views.stats import StatsReads
from tracker.views.tables import (
    ALL,
    CHECKSUM_ORDER,
    INSTANT_COLUMNS,
    LIVE,
    MESSAGE_COLUMNS,
    PAGE_KEYS,
    SHADOW,
    TRACKING_KEY,
    VIEWS,
    MessageFilter,
    ViewTables,
    from_micros,
    iso,
)

__all__ = ["ALL", "LIVE", "SHADOW", "VIEWS", "MessageFilter", "ViewStore"]


class ViewStore(QuarantineReads, ChangeReads, BreakdownReads, StatsReads, ABC):
    """Reading and writing the views; mixed into a library tracking recorder per database."""

    tables: ViewTables
    tracking_table: str

    def ready(self, *, create: bool = True) -> ViewStore:
        """These views, their tables (and the library's tracking table) created when
        ``create`` (off when a migrate step made them, once)."""
        if create:
            self.create_table()  # type: ignore[attr-defined]  # the library's tracking table
            self.create_views(LIVE)
        return self

    @abstractmethod
    def where(self) -> str | None:
        """What ``reopen`` needs to open these views again in another process."""

    @classmethod
    @abstractmethod
    def reopen(cls, tracker: Any, where: str | None) -> ViewStore:
        """The views ``where`` names, for a rebuild worker that runs ``tracker``."""

    def create_views(self, suffix: str = LIVE) -> None:
        changes = self.tables.table("changes" + suffix)
        had_changes = self._has(changes)
        had_breakdown = self._has(self.tables.table("breakdown" + suffix))
        with self.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            for statement in self.tables.create_statements(suffix):
                cursor.execute(statement)
            cursor.execute(change_view.create_statement(self.tables, suffix))
            for statement in breakdown_view.create_statements(self.tables, suffix):
                cursor.execute(statement)
            if suffix == LIVE:
                for statement in self._index_statements():
                    cursor.execute(statement)
                reached = self._tracking_of(cursor, TRACKING_KEY)
                if not had_changes and reached:
                    # Views made before the change view: it is complete only from here on.
                    self._delete_tracking(cursor, COMPLETE_FROM_KEY)
                    self._insert_tracking(cursor, Tracking(COMPLETE_FROM_KEY, reached))  # type: ignore[attr-defined]
                if not had_breakdown and reached:  # made before the breakdowns: none until
                    self._delete_tracking(cursor, INCOMPLETE_KEY)  # a rebuild makes them
                    self._insert_tracking(cursor, Tracking(INCOMPLETE_KEY, reached))  # type: ignore[attr-defined]

        for table, column in self.tables.added_columns(suffix):
            self._add_column(table, column)

    def _has(self, table: str) -> bool:
        """Whether the table exists (asked in a transaction of its own: a failed statement
        spoils PostgreSQL's)."""
        try:
            with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
                cursor.execute(f"SELECT 1 FROM {table} WHERE 1 = 0")
        except PersistenceError:
            return False
        return True

    def _index_statements(self) -> list[str]:
        return [
            *self.tables.index_statements(),
            change_view.index_statement(self.tables),
            *breakdown_view.index_statements(self.tables),
        ]

    def _add_column(self, table: str, column: str) -> None:
        """The column added to a table made before it was (each step its own transaction: a
        failed statement spoils PostgreSQL's)."""
        try:
            with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
                cursor.execute(f"SELECT {column.split()[0]} FROM {table} WHERE 1 = 0")
        except PersistenceError:
            with self.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
                cursor.execute(f"ALTER TABLE {table} ADD COLUMN {column}")

    def drop_views(self, suffix: str) -> None:
        with self.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            for view in VIEWS:
                cursor.execute(f"DROP TABLE IF EXISTS {self.tables.table(view + suffix)}")
            self._delete_tracking(cursor, TRACKING_KEY + suffix)
            if suffix == LIVE:
                self._delete_tracking(cursor, COMPLETE_FROM_KEY)
                self._delete_tracking(cursor, INCOMPLETE_KEY)

    def position(self, suffix: str = LIVE) -> int:
        """The last notification id the views (live or shadow) have taken into account."""
        return self.max_tracking_id(TRACKING_KEY + suffix) or 0  # type: ignore[attr-defined]

    def load_messages(self, ids: Sequence[int], suffix: str = LIVE) -> dict[int, MessageRow]:
        found: dict[int, MessageRow] = {}
        table = self.tables.table("messages" + suffix)
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            for chunk in _chunks(ids, 500):
                cursor.execute(
                    self.tables.select_in(table, "id_sms", len(chunk)),
                    self.tables.in_params(chunk),
                )
                for record in cursor.fetchall():
                    found[record["id_sms"]] = message_row(record)
        return found

    def write(
        self,
        rows: Iterable[MessageRow],
        counts: dict[tuple[str, bool], int],
        deliveries: Sequence[Delivery],
        position: int,
        suffix: str = LIVE,
        *,
        previous: int | None = None,
        quarantined: Sequence[QuarantineFact] = (),
        recount: bool = False,
        changes: Sequence[Change] = (),
        breakdowns: Counter[tuple] | None = None,
    ) -> None:
        """Apply one page of changes and move the position, all in one transaction.

        ``previous`` is the position the page was read from: if the views are no longer there
        (another projector wrote first, or a rebuild was swapped in), eventsourcing's
        IntegrityError is raised and nothing of the page is written. With ``recount`` (a
        rebuild's last write, into empty counts) the state counts and breakdowns are counted
        from the messages view rather than added to; else ``breakdowns`` are added.
        """
        t = self.tables
        key = TRACKING_KEY + suffix
        with self.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            if previous is not None and (now := self._tracking_of(cursor, key)) != previous:
                raise IntegrityError(f"the views moved from {previous} to {now} meanwhile")
            self._write_changes(cursor, list(rows), deliveries, quarantined, suffix, changes)
            if recount:
                cursor.execute(f"DELETE FROM {t.table('state_counts' + suffix)}")
                cursor.execute(t.count_states_statement(suffix))
                breakdown_view.recount(t, cursor, suffix)
            if breakdowns:
                breakdown_view.write_deltas(t, cursor, suffix, breakdowns)
            changed = [(s, int(f), n) for (s, f), n in sorted(counts.items()) if n]
            if changed:
                cursor.executemany(t.add_counts_statement(suffix), changed)
                # A state nobody is in any more has no row, as in a rebuild (checksums agree).
                cursor.execute(f"DELETE FROM {t.table('state_counts' + suffix)} WHERE messages = 0")
            self._insert_tracking(cursor, Tracking(key, position))  # type: ignore[attr-defined]

    def write_rows(
        self,
        rows: Sequence[MessageRow],
        deliveries: Sequence[Delivery],
        suffix: str,
        quarantined: Sequence[QuarantineFact] = (),
        changes: Sequence[Change] = (),
    ) -> None:
        """Write rows, deliveries, quarantine receipts and changes without moving the position
        (for rebuilds, whose tables are thrown away if they die)."""
        with self.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            self._write_changes(cursor, rows, deliveries, quarantined, suffix, changes)

    def _write_changes(
        self,
        cursor: Any,
        rows: Sequence[MessageRow],
        deliveries: Sequence[Delivery],
        quarantined: Sequence[QuarantineFact],
        suffix: str,
        changes: Sequence[Change] = (),
    ) -> None:
        """Message rows, new deliveries, quarantine receipts and changes, in the caller's
        transaction, their tables in the order ``create_views`` takes them for their indexes
        (the changes last): opening the views meanwhile (a server starting, a rebuild) never
        deadlocks with it on PostgreSQL."""
        t = self.tables
        if rows:
            t.write_messages(cursor, suffix, [message_values(r) for r in rows])
        if deliveries:
            t.write_deliveries(cursor, suffix, [delivery_values(d) for d in deliveries])
        first, again = t.quarantine_statements(suffix)
        for item in quarantined:  # in log order: a first receipt before its repeats
            at = iso(item.received_at)
            if item.kind is not None:
                cursor.execute(
                    first, (item.quarantine_id, item.kind, item.raw, item.encoding, at, at,
                            item.reason),
                )  # fmt: skip
            else:
                cursor.execute(again, (at, item.reason, item.quarantine_id))
        if changes:
            change_view.write_changes(t, cursor, suffix, changes)

    def swap_in(self, suffix: str) -> None:
        """Replace the live views by the ``suffix`` ones, and their position, atomically."""
        with self.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            position = self._tracking_of(cursor, TRACKING_KEY + suffix)
            for view in VIEWS:
                cursor.execute(f"DROP TABLE IF EXISTS {self.tables.table(view)}")
                cursor.execute(f"ALTER TABLE {self.tables.table(view + suffix)} RENAME TO {view}")
            for statement in self._index_statements():
                cursor.execute(statement)
            self._delete_tracking(cursor, COMPLETE_FROM_KEY)  # a rebuild's changes are whole
            self._delete_tracking(cursor, INCOMPLETE_KEY)  # and its breakdowns
            self._delete_tracking(cursor, TRACKING_KEY)
            self._delete_tracking(cursor, TRACKING_KEY + suffix)
            self._insert_tracking(cursor, Tracking(TRACKING_KEY, position))  # type: ignore[attr-defined]

    def checksums(self, suffix: str = LIVE) -> dict[str, str]:
        """SHA-256 of each view's rows in key order, in a form both databases agree on."""
        sums = {}
        for view in VIEWS:
            digest = hashlib.sha256()
            for values in self.scan(view, suffix):
                if view == "messages":  # as before the columns added since (see the function)
                    values = checksum_values(values)
                digest.update(("\t".join(map(canonical, values)) + "\n").encode())
            sums[view] = digest.hexdigest()
        return sums

    def rows(self, view: str, suffix: str = LIVE) -> list[tuple]:
        """Every row of a view in key order (for tests)."""
        return list(self.scan(view, suffix))

    def scan(self, view: str, suffix: str = LIVE, page: int = 5000) -> Iterator[tuple]:
        """A view's rows in key order, read a page at a time (memory stays flat); instants as
        ``iso`` text, whatever form they are stored in."""
        table = self.tables.table(view + suffix)
        p = self.tables.placeholder
        if view not in PAGE_KEYS:  # counts: a few rows per value and day
            with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
                # A breakdown key nobody is in keeps a row of 0 (views/breakdown.py): skipped
                kept = "" if view == "state_counts" else "WHERE messages <> 0 "
                cursor.execute(f"SELECT * FROM {table} {kept}ORDER BY {CHECKSUM_ORDER[view]}")
                records = [tuple(_values(r)) for r in cursor.fetchall()]
            # Senders and campaigns are any text: sorted here, as both databases' orders differ
            yield from records if view == "state_counts" else sorted(records, key=_text_order)
            return
        key, after = CHECKSUM_ORDER[view], PAGE_KEYS[view]
        columns = ", ".join(MESSAGE_COLUMNS) if view == "messages" else "*"  # as added or not
        while True:
            with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
                cursor.execute(
                    f"SELECT {columns} FROM {table} WHERE {key} > {p} ORDER BY {key} LIMIT {p}",
                    (after, page),
                )
                records = [tuple(_values(r)) for r in cursor.fetchall()]
            yield from _as_text(records, INSTANT_COLUMNS.get(view, ()))
            if len(records) < page:
                return
            after = records[-1][0]

    def list_messages(
        self, chosen: MessageFilter = ALL, *, after: int = -1, limit: int = 100
    ) -> list[MessageRow]:
        """The ``chosen`` messages with ``id_sms`` above ``after``, in id order: a page of a
        keyset listing, keyed on the immutable id, so paging never repeats or skips a row,
        whatever is written meanwhile."""
        p = self.tables.placeholder
        where, params = self.tables.message_conditions(chosen)
        where.insert(0, f"id_sms > {p}")
        params = [after, *params, limit]
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                f"SELECT * FROM {self.tables.table('messages')} WHERE {' AND '.join(where)} "
                f"ORDER BY id_sms LIMIT {p}",
                params,
            )
            return [message_row(r) for r in cursor.fetchall()]

    def message(self, id_sms: int) -> MessageRow | None:
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                f"SELECT * FROM {self.tables.table('messages')} WHERE id_sms = "
                f"{self.tables.placeholder}",
                (id_sms,),
            )
            record = cursor.fetchone()
        return message_row(record) if record else None

    def _tracking_of(self, cursor: Any, key: str) -> int:
        cursor.execute(
            f"SELECT notification_id FROM {self.tracking_table} WHERE application_name = "
            f"{self.tables.placeholder}",
            (key,),
        )
        record = cursor.fetchone()
        return record["notification_id"] if record else 0

    def _delete_tracking(self, cursor: Any, key: str) -> None:
        cursor.execute(
            f"DELETE FROM {self.tracking_table} WHERE application_name = {self.tables.placeholder}",
            (key,),
        )


def _values(record: Any) -> Iterator[Any]:
    return iter(record.values()) if isinstance(record, dict) else iter(tuple(record))


def _as_text(records: list[tuple], instants: tuple[int, ...]) -> list[tuple]:
    """Rows with the values at these positions, stored as ``micros``, as ``iso`` text."""
    if not instants:
        return records
    texts = []
    for record in records:
        values = list(record)
        for n in instants:
            values[n] = iso(from_micros(values[n]))
        texts.append(tuple(values))
    return texts


def _text_order(values: tuple) -> tuple:
    return tuple(v.encode() if isinstance(v, str) else v for v in values)


def canonical(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
