"""What a migration (``tracker.migrate``) asks of a store: its tables' names, its placeholder, the
old rows a page at a time, and what else ends a migration there. Each store subclasses it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any
from uuid import UUID

from tracker.codec import encode
from tracker.domain.events import Envelope
from tracker.stores import legacy

PROGRESS_TABLE = "tracker_migration"  # while a migration is under way: how far it got
EVENTS_TABLE = "events"  # this version's events table (stores.sqlite and stores.postgres)


class LegacyTables(ABC):
    """What a migration asks of one kind of store: its tables' names, its placeholder and id
    type, and the page of old rows after a position, all in the transaction it is given."""

    legacy_table: str
    mark: str  # the driver's placeholder
    for_update: str = ""  # what locks the progress row for the transaction, where needed

    def __init__(self, datastore: Any):
        self.datastore = datastore
        self.events = self.name(EVENTS_TABLE)
        self.legacy = self.name(self.legacy_table)
        self.progress = self.name(PROGRESS_TABLE)

    def name(self, table: str) -> str:
        return f'"{table}"'

    def key(self, originator_id: UUID) -> Any:
        return originator_id

    @abstractmethod
    def has_table(self, cursor: Any, table: str) -> bool:
        """Whether the store has this table (unqualified name)."""

    @abstractmethod
    def page(self, cursor: Any, after: int, size: int) -> list[legacy.LegacyRow]:
        """The next ``size`` old rows after position ``after``, in notification order."""

    @abstractmethod
    def head(self, cursor: Any) -> int:
        """The old table's last position (0 when it is empty)."""

    def finish(self, cursor: Any, position: int) -> None:  # noqa: B027 (SQLite has none)
        """What else ends a migration on this store, before the old table is dropped."""

    def one(self, cursor: Any, statement: str, params: tuple = ()) -> Any:
        """The first column of the first row a statement gives (None: no row)."""
        cursor.execute(statement, params)
        row = cursor.fetchone()
        return None if row is None else next(iter(row.values() if isinstance(row, dict) else row))

    def insert(self, cursor: Any, rows: list[tuple[int, Envelope]]) -> None:
        m = self.mark
        cursor.executemany(
            f"INSERT INTO {self.events} (notification_id, originator_id, originator_version, "
            f"topic, state) VALUES ({m}, {m}, {m}, {m}, {m})",
            [(n, self.key(e.originator_id), e.originator_version, e.event.TOPIC, encode(e.event))
             for n, e in rows],
        )  # fmt: skip
