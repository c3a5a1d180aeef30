"""The view tables (messages, state_counts, delivery_times, quarantine): their SQL and rows.

The change view's own SQL and reads are in views/changes.py.

Values are stored in forms both databases keep identically (instants as integer microseconds,
0/1 integers), so a checksum of the same history is the same on either. The SQL here is what
both share; a store's package says how it differs (stores/postgres/views.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tracker.memo import Memo
from tracker.views.projection import (
    NO_STATE,
)

VIEWS = (
    "messages", "state_counts", "delivery_times", "quarantine", "changes", "breakdown",
    "breakdown_times",
)  # fmt: skip
LIVE = ""  # table-name suffix of the live views
SHADOW = "__rebuild"  # table-name suffix of a rebuild in progress
TRACKING_KEY = "tracker.views"  # the tracking row of the views (one position for all)

MESSAGE_COLUMNS = (
    "id_sms", "state", "time", "instant", "final", "reports",
    "first_received_at", "last_received_at", "conflict", "delivered_at",
    "latest_state", "latest_time", "latest_instant", "channels",
    "sender", "campaign", "channel", "sent_at", "parts", "registered_at",
    "registration_conflicts", "day", "delivery_bucket",
)  # fmt: skip
# Added 2026-12-07 (ALTER TABLE ADD COLUMN on views made before): the registration that stands,
# the sending day and the delivery time's histogram bucket (see views/breakdown.py).
REGISTRATION_COLUMNS = (
    "sender TEXT", "campaign TEXT", "channel TEXT", "sent_at {i}", "parts INTEGER",
    "registered_at {i}", "registration_conflicts INTEGER NOT NULL DEFAULT 0", "day TEXT",
    "delivery_bucket INTEGER",
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
    "changes": "position",
    "breakdown": "dimension, value, day, state, final",
    "breakdown_times": "dimension, value, day, bucket",
}
PAGE_KEYS = {"messages": -1, "delivery_times": -1, "quarantine": "", "changes": 0}  # scan()'s


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
                      "last_received_at", "delivered_at", "latest_instant", "sent_at",
                      "registered_at")),
    "delivery_times": (1, 2),
    "changes": (6, 7),
}  # fmt: skip


class ViewTables:
    """SQL for the views, shared by both databases; subclasses say how to run it."""

    placeholder = "?"
    id_type = "INTEGER"
    real_type = "REAL"
    blob_type = "BLOB"

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

    def insert_rows(
        self, cursor: Any, table: str, columns: Sequence[str], values: Sequence[tuple]
    ) -> None:
        """Insert rows, in the caller's transaction."""
        marks = ", ".join([self.placeholder] * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values)

    def create_statements(self, suffix: str) -> list[str]:
        """The views but the change view (views/changes.py)."""
        m, c, d, q = (self.table(v + suffix) for v in VIEWS[:4])
        i = self.id_type  # ids, and instants as integer microseconds since 1970 (UTC)
        return [
            f"CREATE TABLE IF NOT EXISTS {m} (id_sms {i} PRIMARY KEY, "
            f"state TEXT, time TEXT, instant {i}, "
            f"final INTEGER NOT NULL, reports INTEGER NOT NULL, first_received_at {i} NOT NULL, "
            f"last_received_at {i} NOT NULL, conflict INTEGER NOT NULL, delivered_at {i}, "
            f"latest_state TEXT, latest_time TEXT, latest_instant {i}, channels TEXT, "
            + ", ".join(c.format(i=i) for c in REGISTRATION_COLUMNS)
            + ")",
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

    def added_columns(self, suffix: str) -> list[tuple[str, str]]:
        """Columns added to a view after its first release, as (table, column definition): a
        view made before lacks them, and gets them when it is opened (ALTER TABLE ADD COLUMN,
        whose null is right for every row: no event stored before had what they hold)."""
        m = self.table("messages" + suffix)
        return [(m, "channels TEXT")] + [
            (m, c.format(i=self.id_type)) for c in REGISTRATION_COLUMNS
        ]

    def index_statements(self) -> list[str]:
        """Indexes of the live views only: a rebuild fills its shadow tables without them, and
        the swap creates them (dropping a table drops its indexes, freeing their names)."""
        m, d = self.table("messages"), self.table("delivery_times")
        return [
            f"CREATE INDEX IF NOT EXISTS messages_state ON {m} (state, id_sms)",
            # Partial: conflicts are few, and only they are ever looked up by it.
            f"CREATE INDEX IF NOT EXISTS messages_conflict ON {m} (id_sms) WHERE conflict = 1",
            # Partial: the messages not yet final, for counting the overdue ones (/stats, the
            # gauge at each scrape) and listing them in id order. Measured 2026-12-06 on f0325d9
            # with this filter, SQLite, 1M messages over 30 days, 5% never final: the count took
            # 61 ms without it (a scan of every row), 3 ms with it; a page of overdue ones 0.8 ms
            # either way (0.2% never final: 3.6 ms without, 1.1 ms with); the projector's
            # upserts of 100k new messages then of each as final, 1.07 s without, 1.17 s with
            # (medians of 7). On (first_received_at) alone the count is as fast, but a page is
            # sorted after the search (6 ms at 5%).
            f"CREATE INDEX IF NOT EXISTS messages_open ON {m} (id_sms, first_received_at) "
            "WHERE final = 0",
            f"CREATE INDEX IF NOT EXISTS delivery_times_day ON {d} (day, seconds)",
            f"CREATE INDEX IF NOT EXISTS delivery_times_seconds ON {d} (seconds)",
            f"CREATE INDEX IF NOT EXISTS quarantine_last ON {self.table('quarantine')} "
            "(last_received_at)",
        ]

    def message_conditions(self, chosen: MessageFilter) -> tuple[list[str], list[Any]]:
        """The conditions on the messages view that keep the ``chosen`` messages, and their
        parameters."""
        p = self.placeholder
        where: list[str] = []
        params: list[Any] = []
        state = chosen.state
        if state == NO_STATE:  # none known: the row holds no state
            where.append("state IS NULL")
            state = None
        for column, value in (("state", state), ("final", chosen.final),
                              ("conflict", chosen.conflict)):  # fmt: skip
            if value is not None:
                where.append(f"{column} = {p}")
                params.append(int(value) if isinstance(value, bool) else value)
        if chosen.received_from is not None:
            where.append(f"last_received_at >= {p}")
            params.append(micros(chosen.received_from))
        if chosen.received_to is not None:
            where.append(f"last_received_at < {p}")
            params.append(micros(chosen.received_to))
        if chosen.overdue is not None:
            if chosen.overdue_before is None:
                raise ValueError("an overdue filter needs the instant overdue_before")
            where.append(
                f"final = 0 AND first_received_at < {p}"
                if chosen.overdue
                else f"(final = 1 OR first_received_at >= {p})"
            )
            params.append(micros(chosen.overdue_before))
        return where, params

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


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """Which messages a listing shows: by state (``NO_STATE``: none known), finality, conflict,
    and last receipt (``received_from`` inclusive, ``received_to`` exclusive); None: any.

    ``overdue``: True keeps the messages not final and first received before ``overdue_before``
    (the reader's clock less TRACKER_OVERDUE_AFTER: overdue is never stored), False the others;
    ``overdue_before`` is needed with it (the read side's queries set it)."""

    state: str | None = None
    final: bool | None = None
    conflict: bool | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    overdue: bool | None = None
    overdue_before: datetime | None = None


ALL = MessageFilter()
