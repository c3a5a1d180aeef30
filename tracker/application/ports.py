"""The ports: what the application and the views ask of a store, beyond the library's recorder.

Each store's recorder (stores/sqlite/events.py, stores/postgres/events.py) implements this;
the library's own contract tests cover the rest of what they do (tests/integration/
test_store_contract.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent


class EventRecorder(Protocol):
    """An application recorder (the library's ``select_notifications`` and the rest) that also
    reads many aggregates at once and plain rows."""

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        check_last: Callable[[str, bytes], None] | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """The library's insert; ``check_last`` is shown the log's last event (topic, state)
        under the store's write lock, before the insert, and may raise to abandon it."""

    def max_notification_id(self) -> int | None: ...

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of these aggregates, each aggregate's in version order."""

    def select_last_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """The last event of each of these aggregates that has one."""

    def last_notification_of(self, originator_id: UUID) -> int | None:
        """The notification id of this aggregate's last event (None: it has none)."""

    def select_rows(self, after: int, end: int, part: tuple[int, int] | None = None) -> list:
        """(notification id, originator id, topic, state) of the events with notification ids
        in (after, end]: with ``part`` (k, n), the k-th of n shares of the aggregates."""

    def select_states_of(self, originator_id: UUID, at_once: int) -> Iterator[list]:
        """One aggregate's (topic, state) rows in version order, ``at_once`` a slice."""

    def select_log(self, after: int | None, end: int) -> list:
        """Whole rows (notification id, originator id, version, topic, state) with notification
        ids in (after, end], in log order: what the audit tree hashes. ``after`` None: from the
        lowest (no store numbers an event below 1, but a row put there is read all the same)."""

    def rows_out_of_order(self) -> int:
        """Rows no read of the log in notification order reaches (edited in by hand)."""

    def next_notification_id(self, after: int) -> int | None:
        """The lowest notification id above ``after`` (None: none)."""

    def select_log_of(self, originator_id: UUID, after: int = -1, limit: int = -1) -> list:
        """One aggregate's whole rows, as ``select_log``, in version order: versions above
        ``after``, at most ``limit`` (-1: all)."""

    def open_views(self, *, create: bool = True) -> Any:
        """The views of this store (a ``views.store.ViewStore``)."""

    def legacy_tables(self) -> Any:
        """What ``tracker migrate`` asks of this store (a ``stores.migration.LegacyTables``)."""
