"""Converting a store an earlier tracker wrote (the library's JSON events) to this version's events.

In place and resumable: the old rows are read in notification order a page at a time
(``stores.legacy``); each becomes this version's event (``domain.events``) as it was decided
then (outcomes carried over as stored, never decided again), under the ids this version derives
(``message_id(id_sms)`` for a message, whatever id the old store used; the same quarantine ids)
with the same versions and the same notification ids. Each page is inserted in one transaction
with the position it reached (the table ``tracker_migration``), so a run stopped anywhere goes on
from there and never writes an event twice. The old table is kept until every row is converted
and counted, and dropped in the transaction that ends the migration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from eventsourcing.persistence import PersistenceError

from tracker.application import StoreUnavailable, Tracker
from tracker.domain.events import (
    Envelope,
    Quarantined,
    QuarantinedAgain,
    Reported,
    ReportedAgain,
)
from tracker.domain.ids import message_id
from tracker.domain.quarantine import quarantine_id
from tracker.stores import legacy
from tracker.stores.migration import PROGRESS_TABLE, LegacyTables

PAGE = 1000  # old rows converted per transaction


class NothingToMigrate(Exception):
    """The store holds no events of an earlier tracker: it is already new, or empty."""


class MigrationError(Exception):
    """The store cannot be converted as it is: the reason, and the old row concerned."""


class Migrated(NamedTuple):
    """What a run did: the events it converted, the last old position converted, the old
    table's last position, whether the migration is finished, and how long it took."""

    events: int
    position: int
    head: int
    done: bool
    seconds: float


def convert(old: legacy.Decoded) -> Envelope:
    """The event this version stores for an old row, in its aggregate, at the same version."""
    version = old.originator_version
    if isinstance(old, legacy.ReportReceived):
        event: Any = Reported(
            old.state, old.time, old.instant, old.received_at, old.outcome,
            old.raw, old.id_sent, old.reason, old.raw_encoding,
        )  # fmt: skip
        return Envelope(message_id(old.id_sms), version, event)
    if isinstance(old, legacy.ReportReceivedAgain):
        event = ReportedAgain(old.state, old.time, old.received_at, old.times, old.reason)
        return Envelope(message_id(old.id_sms), version, event)
    if isinstance(old, legacy.ItemQuarantined):
        if quarantine_id(old.kind, old.raw) != old.originator_id:
            raise MigrationError(
                f"event {old.position}: quarantined input stored under {old.originator_id}, "
                f"not under the id its content gives ({quarantine_id(old.kind, old.raw)})"
            )
        event = Quarantined(old.kind, old.raw, old.reason, old.received_at, old.encoding)
        return Envelope(old.originator_id, version, event)
    return Envelope(old.originator_id, version, QuarantinedAgain(old.reason, old.received_at))


class Migration:
    """A migration under way on the store a tracker is open on (opened with ``legacy=True``,
    its tables created): from where the last run stopped to the old table's ``head``."""

    def __init__(self, tracker: Tracker):
        self.store: LegacyTables = tracker.store.legacy_tables()
        with _unavailable():
            self.position, self.head = _begin(self.store)

    def run(
        self,
        page_size: int = PAGE,
        stop_after_pages: int | None = None,
        on_page: Callable[[int, int, int], None] | None = None,
    ) -> Migrated:
        """Convert the rest; ``on_page(position, head, events)`` after each page committed.
        ``stop_after_pages``: stop after that many pages (``done`` False), as an interrupted
        run would. Raises ``MigrationError`` (the page in hand is not committed)."""
        store = self.store
        began = time.perf_counter()
        events = pages = 0
        while stop_after_pages is None or pages < stop_after_pages:
            with _unavailable(), store.datastore.transaction(commit=True) as cursor:
                position = _position(store, cursor)
                rows = store.page(cursor, position, page_size)
                if not rows:
                    _finish(store, cursor, position)
                    return Migrated(events, position, self.head, True, time.perf_counter() - began)
                store.insert(cursor, [(r.position, convert(_decoded(r))) for r in rows])
                self.position = rows[-1].position
                cursor.execute(f"UPDATE {store.progress} SET position = {store.mark}",
                               (self.position,))  # fmt: skip
            events += len(rows)
            pages += 1
            if on_page is not None:
                on_page(self.position, self.head, events)
        return Migrated(events, self.position, self.head, False, time.perf_counter() - began)


def migrate(tracker: Tracker, page_size: int = PAGE) -> Migrated:
    """Convert the whole store the tracker is open on (see ``Migration``); raises
    ``NothingToMigrate`` when it holds no events of an earlier tracker."""
    return Migration(tracker).run(page_size)


@contextmanager
def _unavailable() -> Iterator[None]:
    """The store's errors as the tracker says them (a locked or unreachable store)."""
    try:
        yield
    except PersistenceError as e:
        raise StoreUnavailable(" ".join(str(e).split()) or type(e).__name__) from e


def _decoded(row: legacy.LegacyRow) -> legacy.Decoded:
    try:
        return legacy.decode(row)
    except legacy.LegacyFormatError as e:
        raise MigrationError(str(e)) from None


def _begin(store: LegacyTables) -> tuple[int, int]:
    """Where this run starts (0, or where the last one stopped) and the old table's head;
    the progress row made on the first run, when the events table is still empty."""
    with store.datastore.transaction(commit=True) as cursor:
        if not store.has_table(cursor, store.legacy_table):
            held = store.one(cursor, f"SELECT count(*) FROM {store.events}")
            raise NothingToMigrate(
                f"no events of an earlier tracker to convert: the store is already in this "
                f"version's format ({held:,} events)"
                if held
                else "no events of an earlier tracker to convert: the store holds no events"
            )
        head = store.head(cursor)
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {store.progress} (source TEXT PRIMARY KEY, "
            "position BIGINT NOT NULL, head BIGINT NOT NULL)"
        )
        position = store.one(cursor, f"SELECT position FROM {store.progress}")
        if position is None:
            if store.one(cursor, f"SELECT count(*) FROM {store.events}"):
                raise MigrationError(
                    f"the store holds events in both {store.legacy} (an earlier tracker's) and "
                    f"{store.events} (this version's), and no migration under way: written by "
                    "both versions, it cannot be converted safely"
                )
            cursor.execute(
                f"INSERT INTO {store.progress} VALUES ({store.mark}, 0, {store.mark})",
                (store.legacy_table, head),
            )
            position = 0
    return position, head


def _position(store: LegacyTables, cursor: Any) -> int:
    """The last old position converted, the progress row locked for this transaction (on
    PostgreSQL; SQLite's write lock is taken at BEGIN): two runs at once take turns."""
    finished = MigrationError(
        "another `tracker migrate` finished this migration meanwhile: nothing is left to convert"
    )
    if not store.has_table(cursor, PROGRESS_TABLE):
        raise finished
    position = store.one(cursor, f"SELECT position FROM {store.progress}{store.for_update}")
    if position is None:
        raise finished
    return int(position)


def _finish(store: LegacyTables, cursor: Any, position: int) -> None:
    """Every old row converted, once: then the old table and the progress go, together."""
    old = store.one(cursor, f"SELECT count(*) FROM {store.legacy}")
    new = store.one(cursor, f"SELECT count(*) FROM {store.events}")
    if old != new:
        raise MigrationError(
            f"{store.legacy} holds {old:,} events and {store.events} {new:,} after converting "
            f"up to event {position}: nothing was dropped; the store needs a look"
        )
    store.finish(cursor, position)
    cursor.execute(f"DROP TABLE {store.legacy}")
    cursor.execute(f"DROP TABLE {store.progress}")
