"""Reading the report events in notification order, lean: one query and one decode per page.

The library's notification reader builds UUID objects, row mappings and event objects the views
never need, at about a third of the store's raw read rate. This reads the same rows as plain
tuples and decodes only the fields the views use, with msgspec, from the library's JSON event
format; tests/integration/test_views.py pins it against the library's own decoding.

A NUL character in any text of an event reaches the views as U+FFFD: PostgreSQL text cannot
hold NUL, and one such status would otherwise stop the views for good. The event itself keeps it
(a message's history shows it exactly).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import get_topic
from psycopg.rows import tuple_row

from tracker.application import Tracker
from tracker.domain.message import Message
from tracker.domain.quarantine import QuarantinedInput
from tracker.domain.status import Report
from tracker.memo import Memo
from tracker.views.projection import Fact, Quarantined

MESSAGE_TOPICS = (get_topic(Message.FirstReported), get_topic(Message.StatusReported))
QUARANTINE_TOPICS = (
    get_topic(QuarantinedInput.Quarantined),
    get_topic(QuarantinedInput.ReceivedAgain),
)


class _Stamp(msgspec.Struct):
    """eventsourcing's JSON transcoding of a datetime: {"_type_": ..., "_data_": ISO text},
    the text left unparsed: a page's events share a few receipt and status times, each parsed
    once (``EventLog._moment``)."""

    text: str = msgspec.field(name="_data_")


class _StoredReport(msgspec.Struct, gc=False):
    state: str
    time: str
    received_at: _Stamp
    id_sms: int
    outcome: str
    instant: _Stamp | None = None
    raw: str | None = None
    id_sent: str | None = None
    reason: str | None = None
    raw_encoding: str | None = None


class _StoredQuarantine(msgspec.Struct):
    received_at: _Stamp
    reason: str
    kind: str | None = None
    raw: str | None = None
    encoding: str | None = None


_decode_reports = msgspec.json.Decoder(list[_StoredReport]).decode
_decode_quarantine = msgspec.json.Decoder(_StoredQuarantine).decode


class EventLog:
    """The tracker's report and quarantine events, by notification id."""

    def __init__(self, tracker: Tracker, part: tuple[int, int] | None = None):
        """With ``part`` = (k, n), only the events of the k-th of n parts of the messages
        (and of the quarantined input), split by aggregate id: a rebuild worker's share."""
        recorder = tracker.recorder
        self.recorder = recorder
        datastore = recorder.datastore  # type: ignore[attr-defined]
        table = recorder.events_table_name  # type: ignore[attr-defined]
        self.parts = part[1] if part else 1
        # Pages are windows of notification ids, (after, after + limit * parts], with no LIMIT:
        # a range bounded at both ends is cheap whatever the planner knows. With an open range
        # and a LIMIT, PostgreSQL may read the whole rest of the log into a bitmap and sort it
        # for every page (seen: 0.5-1.1 s instead of 5 ms a page on a freshly loaded table, the
        # more so with a topic or part filter). The rare other events (quarantined input) are
        # skipped here rather than filtered in SQL for the same reason.
        if isinstance(datastore, PostgresDatastore):
            # By the id's last byte, computed (a condition on originator_id itself would let
            # the planner read the primary key's index for half the table on every page).
            share = _share(part, "get_byte(uuid_send(originator_id), 15)", str)
            self.select = (
                f'SELECT originator_id, topic, state FROM "{datastore.schema}"."{table}" '
                f"WHERE notification_id > %s AND notification_id <= %s {share}"
                "ORDER BY notification_id"
            )
            self._plain_rows = _tuples_from_psycopg
        else:
            # Ids are stored as hex text: the last byte is its last two characters.
            share = _share(part, "substr(originator_id, 31, 2)", lambda byte: f"'{byte:02x}'")
            self.select = (
                f"SELECT originator_id, topic, state FROM {table} "
                f"WHERE rowid > ? AND rowid <= ? {share}ORDER BY rowid"
            )
            self._plain_rows = _tuples_from_sqlite
        self.datastore = datastore
        # Many events share their report (state, time, instant) and their receipt time.
        self._moments = Memo(datetime.fromisoformat, REMEMBERED)  # by ISO text
        self._reports = Memo(self._new_report, REMEMBERED)  # by (state, time, instant, reason)

    def head(self) -> int:
        """The last notification id in the store (0 when it is empty)."""
        return self.recorder.max_notification_id() or 0

    def page(
        self, after: int, stop: int, limit: int, until: datetime | None = None
    ) -> tuple[list[Fact], list[Quarantined], int]:
        """The report and quarantine events with ids in (after, end], and ``end``: the next
        ``limit`` ids (times the parts: about ``limit`` events of this part), or up to ``stop``.
        With ``until``, only the events received at or before that instant."""
        end = min(stop, after + limit * self.parts)
        with self.datastore.transaction(commit=False) as cursor:
            self._plain_rows(cursor)
            cursor.execute(self.select, (after, end))
            rows = cursor.fetchall()  # (originator_id, topic, state)
        facts = self._facts([state for _, topic, state in rows if topic in MESSAGE_TOPICS])
        quarantined = [
            self._quarantined(originator_id, state)
            for originator_id, topic, state in rows
            if topic in QUARANTINE_TOPICS
        ]
        if until is not None:
            facts = [f for f in facts if f.received_at <= until]
            quarantined = [q for q in quarantined if q.received_at <= until]
        return facts, quarantined, end

    def _facts(self, states: list[bytes]) -> list[Fact]:
        """The report events' JSON objects, decoded as one array (one call per page); each
        distinct report and receipt time made once (the lookups inline: this runs per event)."""
        if not states:
            return []
        reports, moments = self._reports, self._moments
        return [
            Fact(
                stored.id_sms,
                reports.once(
                    (stored.state, stored.time, _text(stored.instant), stored.reason),
                    len(stored.state) + len(stored.time) + len(stored.reason or ""),
                ),
                moments[stored.received_at.text],
                stored.outcome,
                stored.raw,
                stored.id_sent,
                stored.raw_encoding,
            )
            for stored in _decode_reports(_without_nul(b"[" + b",".join(states) + b"]"))
        ]

    def _new_report(self, key: tuple[str, str, str | None, str | None]) -> Report:
        state, time, instant, reason = key
        return Report(state, time, None if instant is None else self._moments[instant], reason)

    def _quarantined(self, originator_id: Any, state: bytes) -> Quarantined:
        item = _decode_quarantine(_without_nul(state))
        return Quarantined(
            quarantine_id=originator_id if isinstance(originator_id, str) else originator_id.hex,
            received_at=datetime.fromisoformat(item.received_at.text),
            reason=item.reason,
            kind=item.kind,
            raw=item.raw,
            encoding=item.encoding,
        )


class StoredEntry(msgspec.Struct, gc=False):
    """One event of a message's history as stored: a report, or (``again``) a report received
    again ``times`` times. Times stay ISO text until the reader parses them."""

    state: str
    time: str
    received_at: _Stamp
    outcome: str = ""
    instant: _Stamp | None = None
    raw: str | None = None
    id_sent: str | None = None
    reason: str | None = None
    raw_encoding: str | None = None
    times: int = 0
    again: bool = False


_decode_entries = msgspec.json.Decoder(list[StoredEntry]).decode
AGAIN_TOPIC = get_topic(Message.ReportedAgain)
ENTRIES_AT_ONCE = 1000  # fetched and decoded per call: the event loop's thread waits one call


def message_entries(tracker: Tracker, id_sms: int) -> list[StoredEntry]:
    """Every event of one message in version order, read as plain rows and decoded with
    msgspec a slice at a time: an 80,000-report history in a fifth of the library's time
    (which makes an event object per row), and never holding the interpreter long at once."""
    recorder = tracker.recorder
    datastore = recorder.datastore  # type: ignore[attr-defined]
    table = recorder.events_table_name  # type: ignore[attr-defined]
    originator_id = tracker.message_id(id_sms)
    if isinstance(datastore, PostgresDatastore):
        select = (
            f'SELECT topic, state FROM "{datastore.schema}"."{table}" '
            "WHERE originator_id = %s ORDER BY originator_version"
        )
        plain_rows, key = _tuples_from_psycopg, originator_id
    else:
        select = (
            f"SELECT topic, state FROM {table} WHERE originator_id = ? ORDER BY originator_version"
        )
        plain_rows, key = _tuples_from_sqlite, originator_id.hex
    entries: list[StoredEntry] = []
    with datastore.transaction(commit=False) as cursor:
        plain_rows(cursor)
        cursor.execute(select, (key,))
        fetch = getattr(cursor, "sqlite_cursor", cursor).fetchmany  # the library's lacks it
        while part := fetch(ENTRIES_AT_ONCE):
            decoded = _decode_entries(b"[" + b",".join(bytes(state) for _, state in part) + b"]")
            for (topic, _), entry in zip(part, decoded, strict=True):
                if topic == AGAIN_TOPIC:
                    entry.again = True
            entries += decoded
    return entries


# A page's rows as plain tuples rather than the library's mappings: SQLite fetches them about a
# sixth faster (measured), and the views read every event of the log.
def _tuples_from_sqlite(cursor: Any) -> None:
    cursor.sqlite_cursor.row_factory = None


def _tuples_from_psycopg(cursor: Any) -> None:
    cursor.row_factory = tuple_row


def _text(stamp: _Stamp | None) -> str | None:
    return None if stamp is None else stamp.text


def _share(part: tuple[int, int] | None, last_byte: str, literal: Callable[[int], str]) -> str:
    """The SQL condition for part k of n: the aggregate ids whose last byte is in the k-th of
    n ranges of 0-255 (the parts are even: a message id ends in a mix of its number, any other
    id in a hash). ``last_byte`` is an expression that orders as the id's last byte does,
    ``literal`` a byte's value to compare it with."""
    if part is None:
        return ""
    k, n = part
    low, high = k * 256 // n, (k + 1) * 256 // n
    bounds = [f"{last_byte} >= {literal(low)}"] if low else []
    bounds += [f"{last_byte} < {literal(high)}"] if high < 256 else []
    return "".join(f"AND {bound} " for bound in bounds)


REMEMBERED = 65_536  # distinct reports and receipt times kept decoded
NUL = b"\\u0000"  # as the event's JSON writes it: a backslash, then u0000
# ... when that backslash is not itself escaped: an even run of backslashes before it.
_ESCAPED_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def _without_nul(state: bytes) -> bytes:
    """The event's JSON with every NUL character in its strings replaced by U+FFFD."""
    return _ESCAPED_NUL.sub(rb"\1\\ufffd", state) if NUL in state else state
