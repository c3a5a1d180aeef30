"""Reading a legacy events table (the library's JSON events) as plain structs, page by page.

The legacy format is eventsourcing 9.5's JSON transcoding of the tracker's aggregate events, as
the tracker wrote them up to commit 4066620 and after it until the compact format:

- the table: SQLite ``stored_events`` (``originator_id`` TEXT, 32 hex digits; the notification
  id is the rowid) or PostgreSQL ``tracker_events`` (``originator_id`` uuid,
  ``notification_id`` bigserial); both with ``originator_version``, ``topic`` and ``state``;
- ``state``: a JSON object whose first key is ``timestamp`` (the transaction's time), then
  ``originator_topic`` for an aggregate's first event, then the event's fields; every datetime
  is ``{"_type_": "datetime_iso", "_data_": "<isoformat>"}``;
- ``topic``: ``module:Class.Event``, spelled below as the old code spelled it, whatever the
  classes are called now.

It imports nothing of eventsourcing (nor the tracker's event classes), so it reads the old rows
whatever the library and those classes become. A migration reads it with ``sqlite_pages`` or
``postgres_pages`` from a position (the last notification id it converted) and ``decode``-s
each row; a row it cannot read raises ``LegacyFormatError`` naming its position, and is never
skipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Annotated, Any, Literal, NamedTuple
from uuid import UUID

import msgspec
from psycopg import sql
from psycopg.rows import tuple_row

# The topics of the legacy format (never change: they are what old stores hold).
MESSAGE = "tracker.domain.message:Message"
FIRST_REPORTED = "tracker.domain.message:Message.FirstReported"
STATUS_REPORTED = "tracker.domain.message:Message.StatusReported"
REPORTED_AGAIN = "tracker.domain.message:Message.ReportedAgain"  # after 4066620 only
QUARANTINED_INPUT = "tracker.domain.quarantine:QuarantinedInput"
QUARANTINED = "tracker.domain.quarantine:QuarantinedInput.Quarantined"
RECEIVED_AGAIN = "tracker.domain.quarantine:QuarantinedInput.ReceivedAgain"

SQLITE_TABLE = "stored_events"
POSTGRES_TABLE = "tracker_events"


class LegacyFormatError(ValueError):
    """A row of the events table that is not an event of the legacy format."""


class LegacyRow(NamedTuple):
    """A row of a legacy events table, as the store gives it."""

    position: int  # its notification id (SQLite: the rowid)
    originator_id: UUID | str  # a UUID, or its 32 hex digits (SQLite)
    originator_version: int
    topic: str
    state: bytes | memoryview | str


class _Stamp(msgspec.Struct, frozen=True):
    """The library's transcoding of a datetime."""

    type_: Literal["datetime_iso"] = msgspec.field(name="_type_")
    data: datetime = msgspec.field(name="_data_")


# --- what a row decodes to -----------------------------------------------------------------


class LegacyEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What every legacy event has: where it is in the log, whose it is, when it was stored."""

    position: int  # notification id
    originator_id: UUID  # the message's or the quarantined item's aggregate id
    originator_version: int  # 1 for the aggregate's first event
    timestamp: datetime  # the library's event timestamp: the storing transaction's time


class ReportReceived(LegacyEvent, frozen=True, kw_only=True, gc=False):
    """A new report of a message: ``Message.FirstReported`` (``first``, which opened the
    message) or ``Message.StatusReported``."""

    first: bool
    id_sms: int
    state: str  # as received
    time: str  # as received
    instant: datetime | None  # UTC, parsed from ``time`` at receipt; None: blank or unreadable
    received_at: datetime
    outcome: str  # applied, superseded, rejected or unknown_state
    raw: str | None  # the item's JSON when it was not the plain documented form
    # Written after 4066620, and only with a value: None in every older event.
    id_sent: str | None = None  # the id_sms as sent, when it was a JSON string
    reason: str | None = None  # why it was rejected at receipt
    raw_encoding: str | None = None  # "base64" when the raw item's bytes were not UTF-8


class ReportReceivedAgain(LegacyEvent, frozen=True, kw_only=True, gc=False):
    """``Message.ReportedAgain``: an exact repeat of a report the message holds, ``times``
    copies in one batch. Not in 4066620's format (it recorded nothing for a repeat)."""

    id_sms: int
    state: str
    time: str
    reason: str | None
    received_at: datetime
    times: int


class ItemQuarantined(LegacyEvent, frozen=True, kw_only=True, gc=False):
    """``QuarantinedInput.Quarantined``: input that named no message, its first receipt."""

    kind: str  # item, body (or items, after 4066620)
    raw: str  # as received, or base64 of its bytes (``encoding``)
    encoding: str  # utf-8 or base64
    reason: str
    received_at: datetime


class QuarantinedReceivedAgain(LegacyEvent, frozen=True, kw_only=True, gc=False):
    """``QuarantinedInput.ReceivedAgain``: a later receipt of a quarantined item."""

    reason: str
    received_at: datetime


Decoded = ReportReceived | ReportReceivedAgain | ItemQuarantined | QuarantinedReceivedAgain


# --- the stored JSON, key for key ------------------------------------------------------------


# What a stored event may hold: a message's number as the tracker read it, an outcome it decided.
IdSms = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Outcome = Literal["applied", "superseded", "rejected", "unknown_state"]


class _Report(msgspec.Struct, forbid_unknown_fields=True):
    timestamp: _Stamp
    id_sms: IdSms
    state: str
    time: str
    instant: _Stamp | None
    received_at: _Stamp
    outcome: Outcome
    raw: str | None
    id_sent: str | None = None
    reason: str | None = None
    raw_encoding: str | None = None
    originator_topic: str | None = None  # the first event's, always MESSAGE


class _Again(msgspec.Struct, forbid_unknown_fields=True):
    timestamp: _Stamp
    id_sms: IdSms
    state: str
    time: str
    reason: str | None
    received_at: _Stamp
    times: int


class _Quarantined(msgspec.Struct, forbid_unknown_fields=True):
    timestamp: _Stamp
    originator_topic: Literal["tracker.domain.quarantine:QuarantinedInput"]
    kind: str
    raw: str
    encoding: str
    reason: str
    received_at: _Stamp


class _ReceivedAgain(msgspec.Struct, forbid_unknown_fields=True):
    timestamp: _Stamp
    reason: str
    received_at: _Stamp


_decode_report = msgspec.json.Decoder(_Report).decode
_decode_again = msgspec.json.Decoder(_Again).decode
_decode_quarantined = msgspec.json.Decoder(_Quarantined).decode
_decode_received_again = msgspec.json.Decoder(_ReceivedAgain).decode


def decode(row: LegacyRow) -> Decoded:
    """The event a legacy row holds; ``LegacyFormatError`` when it is not one."""
    try:
        return _decode(row)
    except (msgspec.DecodeError, ValueError) as e:
        raise LegacyFormatError(
            f"event {row.position} ({row.topic}, version {row.originator_version}) is not in "
            f"the legacy format: {e}"
        ) from None


def _decode(row: LegacyRow) -> Decoded:
    state = row.state
    if isinstance(state, str):
        state = state.encode()
    common: dict[str, Any] = {
        "position": row.position,
        "originator_id": _uuid(row.originator_id),
        "originator_version": row.originator_version,
    }
    topic = row.topic
    if topic in (FIRST_REPORTED, STATUS_REPORTED):
        r = _decode_report(state)
        first = topic == FIRST_REPORTED
        if r.originator_topic != (MESSAGE if first else None):
            raise ValueError(f"originator_topic {r.originator_topic!r}")
        if first != (row.originator_version == 1):
            raise ValueError("a message's first report is its version 1, and only it")
        return ReportReceived(**common, **_taken(r, ReportReceived), first=first)
    if topic == REPORTED_AGAIN:
        return ReportReceivedAgain(**common, **_taken(_decode_again(state), ReportReceivedAgain))
    if topic == QUARANTINED:
        return ItemQuarantined(**common, **_taken(_decode_quarantined(state), ItemQuarantined))
    if topic == RECEIVED_AGAIN:
        g = _decode_received_again(state)
        return QuarantinedReceivedAgain(**common, **_taken(g, QuarantinedReceivedAgain))
    raise ValueError(f"unknown topic {topic!r}")


def _taken(stored: msgspec.Struct, into: type[LegacyEvent]) -> dict[str, Any]:
    """The stored event's fields that ``into`` has, each datetime out of its wrapper."""
    fields = {}
    for name in into.__struct_fields__:
        value = getattr(stored, name, _MISSING)
        if value is not _MISSING:
            fields[name] = value.data if isinstance(value, _Stamp) else value
    return fields


_MISSING = object()


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def decoded(pages: Iterable[list[LegacyRow]]) -> Iterator[Decoded]:
    """Every event of these pages, in their order."""
    for page in pages:
        for row in page:
            yield decode(row)


# --- the rows, a page at a time, from a position --------------------------------------------


def sqlite_pages(
    connection: sqlite3.Connection, after: int = 0, size: int = 1000, table: str = SQLITE_TABLE
) -> Iterator[list[LegacyRow]]:
    """The rows after notification id ``after``, in notification order, ``size`` a page; each
    page a query of its own (so a migration may write between them)."""
    query = (
        f'SELECT rowid, originator_id, originator_version, topic, state FROM "{table}" '
        "WHERE rowid > ? ORDER BY rowid LIMIT ?"
    )
    while page := [LegacyRow(*row) for row in connection.execute(query, (after, size))]:
        yield page
        after = page[-1].position


def sqlite_head(connection: sqlite3.Connection, table: str = SQLITE_TABLE) -> int:
    """The last notification id of the table (0 when empty)."""
    return connection.execute(f'SELECT max(rowid) FROM "{table}"').fetchone()[0] or 0


def postgres_pages(
    connection: Any,
    schema: str = "public",
    after: int = 0,
    size: int = 1000,
    table: str = POSTGRES_TABLE,
) -> Iterator[list[LegacyRow]]:
    """As ``sqlite_pages``, on a psycopg connection: windows of notification ids
    ``(after, after + size]`` up to the head read first (a window, not a LIMIT: PostgreSQL
    without statistics on a freshly loaded table would sort the rest of it for every page).
    Windows may hold fewer rows (ids a rolled-back transaction took); no empty page is given."""
    name = sql.Identifier(schema, table)
    head = postgres_head(connection, schema, table)
    query = sql.SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
        "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id"
    ).format(name)
    while after < head:
        with connection.cursor(row_factory=tuple_row) as cursor:
            rows = cursor.execute(query, (after, after + size)).fetchall()
        after += size
        if rows:
            yield [LegacyRow(*row) for row in rows]


def postgres_head(connection: Any, schema: str = "public", table: str = POSTGRES_TABLE) -> int:
    """The last notification id of the table (0 when empty)."""
    query = sql.SQL("SELECT max(notification_id) FROM {}").format(sql.Identifier(schema, table))
    with connection.cursor(row_factory=tuple_row) as cursor:
        return cursor.execute(query).fetchone()[0] or 0
