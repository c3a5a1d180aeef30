"""Each endpoint's durable delivery state, in a ``forwarding`` table beside the views.

One row per endpoint, keyed by a digest of its URL (``delivery.endpoint_key``; the URL itself is
never stored, only as ``delivery.shown`` shows it): the position delivered, the batch in flight
(``pending``: its last position, so a restart sends the same batch again, with the same id),
counts of attempts and failures, the last answer, and a lease. A forwarder writes only while it
holds the lease, and every write is a compare-and-set on the position it read: forwarders in
several projector processes never deliver to one endpoint at once, and the position never
skips a batch or goes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import IntegrityError

from tracker.views.store import ViewStore
from tracker.views.tables import from_micros, micros


class LeaseLost(IntegrityError):
    """Another forwarder holds this endpoint now, or moved its position: read it again."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    key: str
    endpoint: str  # as delivery.shown shows it
    position: int  # every change up to here was delivered (2xx)
    pending: int  # the last position of the batch in flight (0: none)
    attempts: int
    failures: int
    failing: int  # failures since the last delivery (the backoff's exponent)
    last_status: int | None  # the last HTTP status (None: none came, or no attempt yet)
    last_error: str | None
    last_attempt: datetime | None
    last_success: datetime | None
    next_attempt: datetime | None  # after a failure: not before
    holder: str | None
    lease_until: datetime | None


COLUMNS = (
    "key, endpoint, position, pending, attempts, failures, failing, last_status, last_error, "
    "last_attempt, last_success, next_attempt, holder, lease_until"
)


class ForwardingState:
    """The ``forwarding`` table in a view store's database (its file on SQLite, the store's
    schema on PostgreSQL)."""

    def __init__(self, views: ViewStore):
        self.datastore: Any = views.datastore  # type: ignore[attr-defined]
        self.table, self.p, self.int = (
            views.tables.table("forwarding"),
            views.tables.placeholder,
            views.tables.id_type,
        )

    def create(self) -> ForwardingState:
        i = self.int
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (key TEXT PRIMARY KEY, "
                f"endpoint TEXT NOT NULL, position {i} NOT NULL, pending {i} NOT NULL, "
                f"attempts {i} NOT NULL, failures {i} NOT NULL, failing {i} NOT NULL, "
                f"last_status INTEGER, last_error TEXT, last_attempt {i}, last_success {i}, "
                f"next_attempt {i}, holder TEXT, lease_until {i})"
            )
        return self

    def all(self) -> dict[str, Endpoint]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT {COLUMNS} FROM {self.table}")
            return {row["key"]: _endpoint(row) for row in cursor.fetchall()}

    def get(self, key: str) -> Endpoint | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT {COLUMNS} FROM {self.table} WHERE key = {self.p}", (key,))
            row = cursor.fetchone()
        return None if row is None else _endpoint(row)

    def begin(self, key: str, endpoint: str, position: int) -> Endpoint:
        """The endpoint's row, made at ``position`` if it has none yet (of two forwarders that
        begin it at once, the first one's position stands)."""
        p = self.p
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT INTO {self.table} (key, endpoint, position, pending, attempts, "
                f"failures, failing) VALUES ({p}, {p}, {p}, 0, 0, 0, 0) "
                "ON CONFLICT (key) DO NOTHING",
                (key, endpoint, position),
            )
        found = self.get(key)
        assert found is not None  # made just now, and never deleted
        return found

    def attempt(
        self,
        was: Endpoint,
        holder: str,
        pending: int,
        now: datetime,
        lease_until: datetime,
        *,
        gone: str | None = None,
    ) -> None:
        """Take (or keep) the lease and count an attempt at the batch ending at ``pending``,
        provided the row is as ``was`` read it and no other holder's lease is running (but
        ``gone``'s, a holder known to have died)."""
        p = self.p
        self._update(
            f"holder = {p}, lease_until = {p}, pending = {p}, attempts = attempts + 1, "
            f"last_attempt = {p}",
            (holder, micros(lease_until), pending, micros(now)),
            was,
            extra=f" AND (holder = {p} OR holder IS NULL OR lease_until < {p} OR holder = {p})",
            extra_params=(holder, micros(now), gone or holder),
        )

    def delivered(
        self, was: Endpoint, holder: str, status: int, now: datetime, lease_until: datetime
    ) -> None:
        """The batch in flight was delivered: the position moves to its end."""
        p = self.p
        self._update(
            f"position = pending, pending = 0, failing = 0, last_status = {p}, "
            f"last_error = NULL, last_success = {p}, next_attempt = NULL, lease_until = {p}",
            (status, micros(now), micros(lease_until)),
            was,
            holder=holder,
        )

    def failed(
        self,
        was: Endpoint,
        holder: str,
        status: int | None,
        error: str,
        next_attempt: datetime,
        lease_until: datetime,
    ) -> None:
        """An attempt failed: counted, with what came back and when to try again."""
        p = self.p
        self._update(
            f"failures = failures + 1, failing = failing + 1, last_status = {p}, "
            f"last_error = {p}, next_attempt = {p}, lease_until = {p}",
            (status, error, micros(next_attempt), micros(lease_until)),
            was,
            holder=holder,
        )

    def release(self, key: str, holder: str) -> None:
        """Give the lease up (stopping), so that another process need not wait for it."""
        p = self.p
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"UPDATE {self.table} SET holder = NULL, lease_until = NULL "
                f"WHERE key = {p} AND holder = {p}",
                (key, holder),
            )

    def _update(
        self,
        assignments: str,
        params: tuple[Any, ...],
        was: Endpoint,
        *,
        holder: str | None = None,
        extra: str = "",
        extra_params: tuple[Any, ...] = (),
    ) -> None:
        p = self.p
        where = f"key = {p} AND position = {p}" + extra
        where_params: tuple[Any, ...] = (was.key, was.position, *extra_params)
        if holder is not None:
            where += f" AND holder = {p}"
            where_params += (holder,)
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"UPDATE {self.table} SET {assignments} WHERE {where} RETURNING key",
                (*params, *where_params),
            )
            if cursor.fetchone() is None:
                raise LeaseLost(f"{was.endpoint}: another forwarder holds it or moved it on")


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        key=row["key"],
        endpoint=row["endpoint"],
        position=row["position"],
        pending=row["pending"],
        attempts=row["attempts"],
        failures=row["failures"],
        failing=row["failing"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        last_attempt=from_micros(row["last_attempt"]),
        last_success=from_micros(row["last_success"]),
        next_attempt=from_micros(row["next_attempt"]),
        holder=row["holder"],
        lease_until=from_micros(row["lease_until"]),
    )
