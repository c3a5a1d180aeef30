"""The view tables (messages, state_counts, delivery_times, quarantine) and their tracking.

Every page of events is written in one transaction together with the position it reached
(eventsourcing's tracking recorders), so a crash anywhere neither skips nor double-counts.
Values are stored in forms both databases keep identically (instants as integer microseconds,
0/1 integers), so a checksum of the same history is the same on either. The SQL here is what
both share; each store's package says how it differs (stores/sqlite/views.py,
stores/postgres/views.py).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking

from tracker.domain.status import Report
from tracker.memo import Memo
from tracker.views.projection import NO_STATE, Delivery, MessageRow, QuarantineFact

VIEWS = ("messages", "state_counts", "delivery_times", "quarantine")
LIVE = ""  # table-name suffix of the live views
SHADOW = "__rebuild"  # table-name suffix of a rebuild in progress
TRACKING_KEY = "tracker.views"  # the tracking row of the views (one position for all)

MESSAGE_COLUMNS = (
    "id_sms", "state", "time", "instant", "final", "reports",
    "first_received_at", "last_received_at", "conflict", "delivered_at",
    "latest_state", "latest_time", "latest_instant",
)  # fmt: skip
DELIVERY_COLUMNS = (
    "id_sms", "first_received_at", "delivered_at", "seconds", "day", "hour"
)  # fmt: skip
MESSAGE_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in MESSAGE_COLUMNS[1:])
CHECKSUM_ORDER = {
    "messages": "id_sms",
    "state_counts": "state, final",
    "delivery_times": "id_sms",
    "quarantine": "quarantine_id",
}
PAGE_KEYS = {"messages": -1, "delivery_times": -1, "quarantine": ""}  # scan() pages on these


def iso(moment: datetime | None) -> str | None:
    """Fixed-width ISO 8601 UTC text (``2026-01-05T08:00:00.000000+00:00``): sorts as time
    does, and reads back the same from both databases.

    Remembered: the events of one webhook request share their receipt time and statuses their
    seconds, so most instants were formatted a moment ago (a tenth of a rebuild, measured)."""
    return None if moment is None else _ISO[moment]


def _utc_text(moment: datetime) -> str:
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.isoformat(timespec="microseconds")


_ISO = Memo(_utc_text, 65_536)  # equal datetimes are one instant (or one naive value): one text


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime | None) -> int | None:
    """An instant as the views store it: integer microseconds since 1970 (UTC), exactly; an
    eighth of its ISO text, and it sorts as time does in both databases."""
    return None if moment is None else (moment - EPOCH) // MICROSECOND


def from_micros(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + value * MICROSECOND


# The columns, by position, that hold instants as ``micros``: ``scan`` gives them as ``iso``
# text, the form the views' checksums and exports have always had.
INSTANT_COLUMNS = {
    "messages": tuple(MESSAGE_COLUMNS.index(c) for c in ("instant", "first_received_at",
                      "last_received_at", "delivered_at", "latest_instant")),
    "delivery_times": (1, 2),
}  # fmt: skip


class ViewTables:
    """SQL for the views, shared by both databases; subclasses say how to run it."""

    placeholder = "?"
    id_type = "INTEGER"
    real_type = "REAL"

    def table(self, name: str) -> str:
        return name

    def byte_length(self, column: str) -> str:
        """The size in bytes of a text column's value (UTF-8)."""
        return f"LENGTH(CAST({column} AS BLOB))"

    def select_in(self, table: str, column: str, n: int) -> str:
        """Rows whose ``column`` is one of ``n`` values (see ``in_params``)."""
        return f"SELECT * FROM {table} WHERE {column} IN ({', '.join([self.placeholder] * n)})"

    def in_params(self, values: Sequence[Any]) -> Sequence[Any]:
        return list(values)

    def create_statements(self, suffix: str) -> list[str]:
        m, c, d, q = (self.table(v + suffix) for v in VIEWS)
        i = self.id_type  # ids, and instants as integer microseconds since 1970 (UTC)
        return [
            f"CREATE TABLE IF NOT EXISTS {m} (id_sms {i} PRIMARY KEY, "
            f"state TEXT, time TEXT, instant {i}, "
            f"final INTEGER NOT NULL, reports INTEGER NOT NULL, first_received_at {i} NOT NULL, "
            f"last_received_at {i} NOT NULL, conflict INTEGER NOT NULL, delivered_at {i}, "
            f"latest_state TEXT, latest_time TEXT, latest_instant {i})",
            f"CREATE TABLE IF NOT EXISTS {c} (state TEXT NOT NULL, final INTEGER NOT NULL, "
            "messages INTEGER NOT NULL, PRIMARY KEY (state, final))",
            f"CREATE TABLE IF NOT EXISTS {d} (id_sms {i} PRIMARY KEY, "
            f"first_received_at {i} NOT NULL, "
            f"delivered_at {i} NOT NULL, seconds {self.real_type} NOT NULL, day TEXT NOT NULL, "
            "hour TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {q} (quarantine_id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
            "raw TEXT NOT NULL, encoding TEXT NOT NULL, receipts INTEGER NOT NULL, "
            "first_received_at TEXT NOT NULL, last_received_at TEXT NOT NULL, "
            "reason TEXT NOT NULL)",
        ]

    def index_statements(self) -> list[str]:
        """Indexes of the live views only: a rebuild fills its shadow tables without them, and
        the swap creates them (dropping a table drops its indexes, freeing their names)."""
        m, d = self.table("messages"), self.table("delivery_times")
        return [
            f"CREATE INDEX IF NOT EXISTS messages_state ON {m} (state, id_sms)",
            # Partial: conflicts are few, and only they are ever looked up by it.
            f"CREATE INDEX IF NOT EXISTS messages_conflict ON {m} (id_sms) WHERE conflict = 1",
            f"CREATE INDEX IF NOT EXISTS delivery_times_day ON {d} (day, seconds)",
            f"CREATE INDEX IF NOT EXISTS delivery_times_seconds ON {d} (seconds)",
            f"CREATE INDEX IF NOT EXISTS quarantine_last ON {self.table('quarantine')} "
            "(last_received_at)",
        ]

    def upsert_messages_statement(self, suffix: str) -> str:
        columns = ", ".join(MESSAGE_COLUMNS)
        marks = ", ".join([self.placeholder] * len(MESSAGE_COLUMNS))
        return (
            f"INSERT INTO {self.table('messages' + suffix)} ({columns}) VALUES ({marks}) "
            f"ON CONFLICT (id_sms) DO UPDATE SET {MESSAGE_UPDATES}"
        )

    def write_messages(self, cursor: Any, suffix: str, values: Sequence[tuple]) -> None:
        """Insert or replace message rows (``message_values``), in the caller's transaction."""
        cursor.executemany(self.upsert_messages_statement(suffix), values)

    def write_deliveries(self, cursor: Any, suffix: str, values: Sequence[tuple]) -> None:
        """Insert delivery rows (``delivery_values``), in the caller's transaction."""
        cursor.executemany(self.insert_deliveries_statement(suffix), values)

    def add_counts_statement(self, suffix: str) -> str:
        p, table = self.placeholder, self.table("state_counts" + suffix)
        return (
            f"INSERT INTO {table} (state, final, messages) VALUES ({p}, {p}, {p}) "
            f"ON CONFLICT (state, final) DO UPDATE SET messages = {table}.messages + "
            "excluded.messages"
        )

    def count_states_statement(self, suffix: str) -> str:
        """state_counts from the messages view (what the live projector adds up page by page)."""
        return (
            f"INSERT INTO {self.table('state_counts' + suffix)} (state, final, messages) "
            f"SELECT COALESCE(state, '{NO_STATE}'), final, COUNT(*) "
            f"FROM {self.table('messages' + suffix)} GROUP BY 1, 2"
        )

    def quarantine_statements(self, suffix: str) -> tuple[str, str]:
        p, table = self.placeholder, self.table("quarantine" + suffix)
        first = (
            f"INSERT INTO {table} (quarantine_id, kind, raw, encoding, receipts, "
            f"first_received_at, last_received_at, reason) VALUES ({p}, {p}, {p}, {p}, 1, {p}, "
            f"{p}, {p})"
        )
        again = (
            f"UPDATE {table} SET receipts = receipts + 1, last_received_at = {p}, reason = {p} "
            f"WHERE quarantine_id = {p}"
        )
        return first, again

    def insert_deliveries_statement(self, suffix: str) -> str:
        marks = ", ".join([self.placeholder] * len(DELIVERY_COLUMNS))
        return (
            f"INSERT INTO {self.table('delivery_times' + suffix)} "
            f"({', '.join(DELIVERY_COLUMNS)}) VALUES ({marks})"
        )


def message_values(row: MessageRow) -> tuple:
    current, latest = row.current, row.latest
    if current is None:
        state = time = instant = None
        final = conflict = 0
    else:
        state, time, instant = current.state, current.time, micros(current.instant)
        final = int(current.final)
        conflict = int(final and latest is not current and latest != current)
    return (
        row.id_sms,
        state,
        time,
        instant,
        final,
        row.reports,
        micros(row.first_received_at),
        micros(row.last_received_at),
        conflict,
        micros(row.delivered_at),
        latest.state if latest else None,
        latest.time if latest else None,
        micros(latest.instant) if latest else None,
    )


def message_row(record: Any) -> MessageRow:
    current = (
        Report(record["state"], record["time"], from_micros(record["instant"]))
        if record["state"] is not None
        else None
    )
    latest = (
        Report(record["latest_state"], record["latest_time"], from_micros(record["latest_instant"]))
        if record["latest_state"] is not None
        else None
    )
    return MessageRow(
        id_sms=record["id_sms"],
        current=current,
        reports=record["reports"],
        first_received_at=from_micros(record["first_received_at"]),  # type: ignore[arg-type]
        last_received_at=from_micros(record["last_received_at"]),  # type: ignore[arg-type]
        latest=latest,
        delivered_at=from_micros(record["delivered_at"]),
    )


def delivery_values(delivery: Delivery) -> tuple:
    at = iso(delivery.delivered_at)
    return (
        delivery.id_sms,
        micros(delivery.first_received_at),
        micros(delivery.delivered_at),
        delivery.seconds,
        at[:10],  # type: ignore[index]
        at[:13],  # type: ignore[index]
    )


class ViewStore:
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

    def where(self) -> str | None:
        """What ``reopen`` needs to open these views again in another process."""
        raise NotImplementedError

    @classmethod
    def reopen(cls, tracker: Any, where: str | None) -> ViewStore:
        """The views ``where`` names, for a rebuild worker that runs ``tracker``."""
        raise NotImplementedError

    def create_views(self, suffix: str = LIVE) -> None:
        with self.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            for statement in self.tables.create_statements(suffix):
                cursor.execute(statement)
            if suffix == LIVE:
                for statement in self.tables.index_statements():
                    cursor.execute(statement)

    def drop_views(self, suffix: str) -> None:
        with self.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            for view in VIEWS:
                cursor.execute(f"DROP TABLE IF EXISTS {self.tables.table(view + suffix)}")
            self._delete_tracking(cursor, TRACKING_KEY + suffix)

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
    ) -> None:
        """Apply one page of changes and move the position, all in one transaction.

        ``previous`` is the position the page was read from: if the views are no longer there
        (another projector wrote first, or a rebuild was swapped in), eventsourcing's
        IntegrityError is raised and nothing of the page is written. With ``recount`` (a
        rebuild's last write, into empty counts) the state counts are counted from the
        messages view rather than added to.
        """
        t = self.tables
        key = TRACKING_KEY + suffix
        with self.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            if previous is not None and (now := self._tracking_of(cursor, key)) != previous:
                raise IntegrityError(f"the views moved from {previous} to {now} meanwhile")
            self._write_changes(cursor, list(rows), deliveries, quarantined, suffix)
            if recount:
                cursor.execute(f"DELETE FROM {t.table('state_counts' + suffix)}")
                cursor.execute(t.count_states_statement(suffix))
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
    ) -> None:
        """Write rows, deliveries and quarantine receipts without moving the position (for
        rebuilds, whose tables are thrown away if they die)."""
        with self.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            self._write_changes(cursor, rows, deliveries, quarantined, suffix)

    def _write_changes(
        self,
        cursor: Any,
        rows: Sequence[MessageRow],
        deliveries: Sequence[Delivery],
        quarantined: Sequence[QuarantineFact],
        suffix: str,
    ) -> None:
        """Message rows, new deliveries and quarantine receipts, in the caller's transaction."""
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

    def swap_in(self, suffix: str) -> None:
        """Replace the live views by the ``suffix`` ones, and their position, atomically."""
        with self.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            position = self._tracking_of(cursor, TRACKING_KEY + suffix)
            for view in VIEWS:
                cursor.execute(f"DROP TABLE IF EXISTS {self.tables.table(view)}")
                cursor.execute(f"ALTER TABLE {self.tables.table(view + suffix)} RENAME TO {view}")
            for statement in self.tables.index_statements():
                cursor.execute(statement)
            self._delete_tracking(cursor, TRACKING_KEY)
            self._delete_tracking(cursor, TRACKING_KEY + suffix)
            self._insert_tracking(cursor, Tracking(TRACKING_KEY, position))  # type: ignore[attr-defined]

    def checksums(self, suffix: str = LIVE) -> dict[str, str]:
        """SHA-256 of each view's rows in key order, in a form both databases agree on."""
        sums = {}
        for view in VIEWS:
            digest = hashlib.sha256()
            for values in self.scan(view, suffix):
                digest.update(("\t".join(map(_canonical, values)) + "\n").encode())
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
        if view == "state_counts":  # a handful of rows
            with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
                cursor.execute(f"SELECT * FROM {table} ORDER BY {CHECKSUM_ORDER[view]}")
                yield from (tuple(_values(r)) for r in cursor.fetchall())
            return
        key, after = CHECKSUM_ORDER[view], PAGE_KEYS[view]
        while True:
            with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
                cursor.execute(
                    f"SELECT * FROM {table} WHERE {key} > {p} ORDER BY {key} LIMIT {p}",
                    (after, page),
                )
                records = [tuple(_values(r)) for r in cursor.fetchall()]
            yield from _as_text(records, INSTANT_COLUMNS.get(view, ()))
            if len(records) < page:
                return
            after = records[-1][0]

    def list_messages(
        self,
        *,
        after: int = -1,
        limit: int = 100,
        state: str | None = None,
        final: bool | None = None,
        conflict: bool | None = None,
        received_from: datetime | None = None,
        received_to: datetime | None = None,
    ) -> list[MessageRow]:
        """Messages with ``id_sms`` above ``after``, in id order: a page of a keyset listing.

        Keyed on the immutable id, so paging never repeats or skips a row, whatever is written
        meanwhile. ``received_*`` bound the message's last receipt (from inclusive, to exclusive).
        """
        p = self.tables.placeholder
        where, params = [f"id_sms > {p}"], [after]
        if state == NO_STATE:  # none known: the row holds no state
            where.append("state IS NULL")
            state = None
        for column, value in (("state", state), ("final", final), ("conflict", conflict)):
            if value is not None:
                where.append(f"{column} = {p}")
                params.append(int(value) if isinstance(value, bool) else value)
        if received_from is not None:
            where.append(f"last_received_at >= {p}")
            params.append(micros(received_from))
        if received_to is not None:
            where.append(f"last_received_at < {p}")
            params.append(micros(received_to))
        params.append(limit)
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                f"SELECT * FROM {self.tables.table('messages')} WHERE {' AND '.join(where)} "
                f"ORDER BY id_sms LIMIT {p}",
                params,
            )
            return [message_row(r) for r in cursor.fetchall()]

    def state_counts(self) -> list[tuple[str, bool, int]]:
        """(state, final, messages) for every state someone is in; state '' is none known."""
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                f"SELECT state, final, messages FROM {self.tables.table('state_counts')} "
                "ORDER BY state, final"
            )
            return [(r["state"], bool(r["final"]), r["messages"]) for r in cursor.fetchall()]

    def conflicts(self) -> int:
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                f"SELECT COUNT(*) AS n FROM {self.tables.table('messages')} WHERE conflict = 1"
            )
            return cursor.fetchone()["n"]

    def delivery_percentiles(
        self, quantiles: Sequence[float], days: int
    ) -> tuple[tuple[int, list[float]], list[tuple[str, int, list[float]]]]:
        """Nearest-rank percentiles of delivery seconds: overall, and for each of the last
        ``days`` days that had deliveries (UTC), each as (count, [value per quantile])."""
        table, p = self.tables.table("delivery_times"), self.tables.placeholder
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]

            def ranked(where: str, params: tuple, n: int) -> list[float]:
                values = []
                for q in quantiles:
                    cursor.execute(
                        f"SELECT seconds FROM {table} {where} ORDER BY seconds LIMIT 1 OFFSET {p}",
                        (*params, max(0, math.ceil(q * n) - 1)),
                    )
                    values.append(cursor.fetchone()["seconds"])
                return values

            cursor.execute(
                f"SELECT day, COUNT(*) AS n FROM {table} GROUP BY day ORDER BY day DESC LIMIT {p}",
                (days,),
            )
            per_day = [(r["day"], r["n"]) for r in cursor.fetchall()]
            cursor.execute(f"SELECT COUNT(*) AS n FROM {table}")
            total = cursor.fetchone()["n"]
            overall = (total, ranked("", (), total) if total else [])
            daily = [(day, n, ranked(f"WHERE day = {p}", (day,), n)) for day, n in per_day[::-1]]
        return overall, daily

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


def _canonical(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
