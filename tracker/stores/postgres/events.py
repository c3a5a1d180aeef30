"""The production store: eventsourcing's PostgreSQL recorder, made to fail promptly.

The library retries every read and write up to ten times on any OperationalError, so a 5 s lock
timeout turns into a minute-long request, and its reads have no lock timeout at all. The platform
times out long before that, and it re-sends what we do not acknowledge anyway, so here a request
fails fast (503) instead: each session carries a lock and a statement timeout, and only errors
that did not already wait (a connection dropped by the server) are retried, twice at most.

``stores.postgres.roles`` sets up a role that can append events but never change or remove them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property, wraps
from typing import Any, TypeVar
from uuid import UUID

import psycopg.errors
import psycopg_pool
from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)
from eventsourcing.utils import Environment, EnvType
from psycopg import sql
from psycopg.rows import tuple_row

from tracker.stores.parts import share

F = TypeVar("F", bound=Callable[..., Any])
EVENTS_TABLE = "events"  # the tracker's events table, in the store's schema
LEGACY_EVENTS_TABLE = "tracker_events"  # the library's, where trackers up to 2026-12-06 wrote
STATEMENT_TIMEOUT_SECONDS = 60  # no single statement of ours runs anywhere near this long

# Errors that mean the store already waited its full timeout: retrying would only double it.
_ALREADY_WAITED = (
    psycopg.errors.LockNotAvailable,
    psycopg.errors.QueryCanceled,
    psycopg_pool.PoolTimeout,
)


def _prompt(method: F, attempts: int = 3) -> F:
    """``method`` without the library's retry loop, retried only for errors that did not wait."""
    plain = getattr(method, "__wrapped__", method)

    @wraps(plain)
    def call(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, attempts + 1):
            try:
                return plain(*args, **kwargs)
            except (InterfaceError, OperationalError) as e:
                if attempt == attempts or isinstance(e.__cause__, _ALREADY_WAITED):
                    raise
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    return call  # type: ignore[return-value]


# A writer's rows on their way into the events table: one per connection, emptied at commit.
STAGE_EVENTS = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS tracker_stage_events (n integer, originator_id uuid, "
    "originator_version integer, topic text, state bytea) ON COMMIT DELETE ROWS"
)
COPY_STAGED = "COPY tracker_stage_events FROM STDIN"


class PromptPostgresApplicationRecorder(PostgresApplicationRecorder):
    select_events = _prompt(PostgresAggregateRecorder.select_events)
    select_notifications = _prompt(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _prompt(PostgresApplicationRecorder.max_notification_id)

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        check_last: Callable[[str, bytes], None] | None = None,
        **_: Any,
    ) -> list[int]:
        """The library's insert (the table locked, the channel notified, notification ids in
        the events' order), with the rows sent by ``COPY`` into a temporary table: psycopg
        dumps the library's array of a composite type in Python, row by row and field by field
        (regular expressions included), which was half the writer's time; ``COPY`` it formats
        in C. ``check_last`` is shown the last event's state under the table lock, before the
        insert: no event of another writer can come between (on several hosts, the writer's
        receipt clock must not fall behind theirs). Three round trips in one transaction: the
        lock, the notification, the staging table and that look at the last event go as one
        query (simple protocol, no parameters); then the ``COPY`` (which pipeline mode does not
        allow); then the insert."""
        if not stored_events:
            return []
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            if check_last is None:
                curs.execute(self._prelude)
            else:
                curs.execute(self._prelude_and_last)
                while curs.nextset():  # to the last statement's result: the last event
                    pass
                last = curs.fetchone()
                if last is not None:
                    check_last(last["topic"], bytes(last["state"]))
            with curs.copy(COPY_STAGED) as copy:
                for n, e in enumerate(stored_events):
                    copy.write_row((n, e.originator_id, e.originator_version, e.topic, e.state))
            curs.execute(self._insert_staged, prepare=True)
            return [row["notification_id"] for row in curs.fetchall()]

    insert_events = _prompt(insert_events)

    @cached_property
    def _prelude(self) -> sql.Composed:
        """The library's lock statements and notification, and our staging table, as one
        query."""
        notify = sql.SQL("NOTIFY {}").format(sql.Identifier(self.channel_name))
        statements = [*self.lock_table_statements, notify, sql.SQL(STAGE_EVENTS)]
        return sql.SQL("; ").join(statements)

    @cached_property
    def _prelude_and_last(self) -> sql.Composed:
        last = self._on_events(
            "SELECT topic, state FROM {events} ORDER BY notification_id DESC LIMIT 1"
        )
        return sql.SQL("; ").join([self._prelude, last])

    @cached_property
    def _insert_staged(self) -> sql.Composed:
        return self._on_events(
            "INSERT INTO {events} (originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state FROM tracker_stage_events "
            "ORDER BY n RETURNING notification_id"
        )

    def legacy_tables(self) -> Any:
        """What ``tracker migrate`` asks of this store (``stores.migration``)."""
        from tracker.stores.postgres.migration import PostgresLegacyTables

        return PostgresLegacyTables(self.datastore)

    def open_views(self, *, create: bool = True) -> Any:
        """The views of this store (``stores.postgres.views``)."""
        from tracker.stores.postgres.views import open_views

        return open_views(self.datastore, create=create)

    def select_rows(self, after: int, end: int, part: tuple[int, int] | None = None) -> list:
        """The rows with notification ids in (after, end] as plain tuples (notification id,
        originator id, topic, state): what the views read. Pages are windows bounded at both
        ends with no LIMIT: with an open range and a LIMIT, PostgreSQL may read the whole rest
        of the log into a bitmap and sort it for every page (seen: 0.5-1.1 s instead of 5 ms a
        page on a freshly loaded table, the more so with a topic or part filter). With ``part``
        (k, n), the k-th of n shares of the aggregates, by the id's last byte, computed (a
        condition on originator_id itself would let the planner read the primary key's index for
        half the table on every page)."""
        condition = share(part, "get_byte(uuid_send(originator_id), 15)", str)
        with self.datastore.transaction(commit=False) as cursor:
            cursor.row_factory = tuple_row
            cursor.execute(
                self._on_events(
                    "SELECT notification_id, originator_id, topic, state FROM {events} "
                    f"WHERE notification_id > %s AND notification_id <= %s {condition}"
                    "ORDER BY notification_id"
                ),
                (after, end),
            )
            return cursor.fetchall()

    select_rows = _prompt(select_rows)

    def select_log(self, after: int | None, end: int) -> list:
        """Whole rows (notification id, originator id, version, topic, state) with notification
        ids in (after, end], in log order (a window bounded at both ends, as ``select_rows``;
        ``after`` None: from the lowest, which the primary key's index finds at once)."""
        if after is None:
            return self._log("WHERE notification_id <= %s ", (end,))
        return self._log("WHERE notification_id > %s AND notification_id <= %s ", (after, end))

    select_log = _prompt(select_log)

    def rows_out_of_order(self) -> int:
        """Rows the log's order does not reach: a NULL notification id, which only a table
        whose constraints were dropped by hand can hold."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                self._on_events("SELECT COUNT(*) AS n FROM {events} WHERE notification_id IS NULL")
            )
            return cursor.fetchone()["n"]  # type: ignore[index,no-any-return]

    rows_out_of_order = _prompt(rows_out_of_order)

    def next_notification_id(self, after: int) -> int | None:
        """The lowest notification id above ``after`` (None: none): a reader of the log in
        windows steps over a wide gap at once."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                self._on_events(
                    "SELECT MIN(notification_id) AS n FROM {events} WHERE notification_id > %s"
                ),
                (after,),
            )
            return cursor.fetchone()["n"]  # type: ignore[index,no-any-return]

    next_notification_id = _prompt(next_notification_id)

    def select_log_of(self, originator_id: UUID, after: int = -1, limit: int = -1) -> list:
        """One aggregate's whole rows, as ``select_log``, in version order: those of versions
        above ``after``, at most ``limit`` (-1: all)."""
        return self._log(
            "WHERE originator_id = %s AND originator_version > %s ",
            (originator_id, after, None if limit < 0 else limit),
            "originator_version LIMIT %s",
        )

    select_log_of = _prompt(select_log_of)

    def _log(self, where: str, params: tuple, order: str = "notification_id") -> list:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.row_factory = tuple_row
            cursor.execute(
                self._on_events(
                    "SELECT notification_id, originator_id, originator_version, topic, state "
                    f"FROM {{events}} {where}ORDER BY {order}"
                ),
                params,
            )
            return [
                (n, o, v, t, bytes(s) if isinstance(s, bytes | memoryview) else s)
                for n, o, v, t, s in cursor.fetchall()
            ]  # fmt: skip (a value edited: as is)

    def select_states_of(self, originator_id: UUID, at_once: int) -> Iterator[list]:
        """One aggregate's (topic, state) rows in version order, ``at_once`` a slice."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.row_factory = tuple_row
            cursor.execute(
                self._on_events(
                    "SELECT topic, state FROM {events} WHERE originator_id = %s "
                    "ORDER BY originator_version"
                ),
                (originator_id,),
            )
            while rows := cursor.fetchmany(at_once):
                yield [(topic, bytes(state)) for topic, state in rows]

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of these aggregates, each aggregate's in version order, in one query."""
        return self._events_of(
            "SELECT originator_id, originator_version, topic, state FROM {events} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version",
            originator_ids,
        )

    select_events_of = _prompt(select_events_of)

    def select_last_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """The last event of each of these aggregates that has one: one index look-up each,
        however many events an aggregate has (a quarantined item received 100,000 times)."""
        return self._events_of(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::uuid[]) AS ids(id) CROSS JOIN LATERAL (SELECT originator_id, "
            "originator_version, topic, state FROM {events} WHERE originator_id = ids.id "
            "ORDER BY originator_version DESC LIMIT 1) AS e",
            originator_ids,
        )

    select_last_events_of = _prompt(select_last_events_of)

    def last_notification_of(self, originator_id: UUID) -> int | None:
        """The notification id of this aggregate's last event (None: it has none)."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                self._on_events(
                    "SELECT notification_id FROM {events} WHERE originator_id = %s "
                    "ORDER BY originator_version DESC LIMIT 1"
                ),
                [originator_id],
            )
            row = cursor.fetchone()
        return None if row is None else row["notification_id"]

    last_notification_of = _prompt(last_notification_of)

    def _events_of(self, statement: str, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._on_events(statement), [list(originator_ids)])
            return [_stored(row) for row in cursor.fetchall()]

    def _on_events(self, statement: str) -> sql.Composed:
        """A statement whose ``{events}`` is this recorder's events table, schema and all."""
        return sql.SQL(statement).format(
            events=sql.Identifier(self.datastore.schema or "public", self.events_table_name)
        )

    def create_table(self) -> None:
        """Create the event tables unless they are there already: a role that does not own them
        (the append-only role) may not run the library's CREATE ... IF NOT EXISTS statements."""
        name = f'"{self.datastore.schema or "public"}"."{self.events_table_name}"'
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS present", [name])
            present = cursor.fetchone()["present"]  # type: ignore[index]
        if present:
            self.datastore.register_type_adapters()
        else:
            super().create_table()


def _stored(row: Any) -> StoredEvent:
    return StoredEvent(
        originator_id=row["originator_id"],
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )


class PromptPostgresFactory(PostgresFactory):
    """PostgresFactory whose sessions time out on locks and statements and fail promptly, and
    whose events are in the tracker's own table (``EVENTS_TABLE``)."""

    application_recorder_class = PromptPostgresApplicationRecorder

    def application_recorder(self) -> PostgresApplicationRecorder:
        recorder = self.application_recorder_class(
            datastore=self.datastore, events_table_name=EVENTS_TABLE
        )
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        lock_timeout_ms = self.datastore.lock_timeout * 1000
        self.datastore.pool.kwargs["options"] = (
            f"-c lock_timeout={lock_timeout_ms} "
            f"-c statement_timeout={STATEMENT_TIMEOUT_SECONDS * 1000}"
        )


def has_table(datastore: Any, table: str) -> bool:
    """Whether the datastore's schema has this table."""
    name = f'"{datastore.schema or "public"}"."{table}"'
    with datastore.transaction(commit=False) as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS present", [name])
        return bool(cursor.fetchone()["present"])


def connection_problem(env: dict[str, str]) -> str | None:
    """Why a connection with these settings fails, in the driver's words (one line), or None
    when one can be made. The pool only says it waited; this is what the operator needs."""
    try:
        connection = psycopg.connect(
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            dbname=env["POSTGRES_DBNAME"],
            connect_timeout=int(env.get("POSTGRES_CONNECT_TIMEOUT") or 3),
        )
    except psycopg.Error as e:
        return " ".join(str(e).split()) or type(e).__name__
    connection.close()
    return None
