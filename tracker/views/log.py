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
from datetime import datetime
from typing import Any

import msgspec
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import get_topic

from tracker.application import Tracker
from tracker.domain.message import Message
from tracker.domain.quarantine import QuarantinedInput
from tracker.views.projection import Fact, Quarantined

MESSAGE_TOPICS = (get_topic(Message.FirstReported), get_topic(Message.StatusReported))
QUARANTINE_TOPICS = (
    get_topic(QuarantinedInput.Quarantined),
    get_topic(QuarantinedInput.ReceivedAgain),
)


class _Transcoded(msgspec.Struct):
    """eventsourcing's JSON transcoding of a datetime: {"_type_": ..., "_data_": ISO text}."""

    data: datetime = msgspec.field(name="_data_")


class _StoredReport(msgspec.Struct):
    state: str
    time: str
    received_at: _Transcoded
    id_sms: int
    outcome: str
    instant: _Transcoded | None = None
    raw: str | None = None


class _StoredQuarantine(msgspec.Struct):
    received_at: _Transcoded
    reason: str
    kind: str | None = None
    raw: str | None = None
    encoding: str | None = None


_decode = msgspec.json.Decoder(_StoredReport).decode
_decode_quarantine = msgspec.json.Decoder(_StoredQuarantine).decode


class EventLog:
    """The tracker's report and quarantine events, by notification id."""

    def __init__(self, tracker: Tracker):
        recorder = tracker.recorder
        self.recorder = recorder
        datastore = recorder.datastore  # type: ignore[attr-defined]
        table = recorder.events_table_name  # type: ignore[attr-defined]
        # No topic filter in SQL: on PostgreSQL, with one, the planner may read the whole rest of
        # the log into a bitmap and sort it for every page (seen: 1.1 s instead of 5 ms a page on
        # a freshly loaded table). Ranges of the notification index are always cheap; the rare
        # other events (quarantined input) are skipped here.
        if isinstance(datastore, PostgresDatastore):
            self.postgres = True
            self.select = (
                "SELECT notification_id, originator_id, topic, state "
                f'FROM "{datastore.schema}"."{table}" '
                "WHERE notification_id > %s AND notification_id <= %s "
                "ORDER BY notification_id LIMIT %s"
            )
        else:
            self.postgres = False
            self.select = (
                f"SELECT rowid, originator_id, topic, state FROM {table} "
                "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
            )
        self.datastore = datastore

    def head(self) -> int:
        """The last notification id in the store (0 when it is empty)."""
        return self.recorder.max_notification_id() or 0

    def page(
        self, after: int, stop: int, limit: int, until: datetime | None = None
    ) -> tuple[list[Fact], list[Quarantined], int]:
        """The report and quarantine events among the next ``limit`` events with ids in
        (after, stop], and the position reached: the last id read, or ``stop`` when fewer than
        ``limit`` were left (ids have gaps: only a short read proves all up to ``stop`` read).
        With ``until``, only the events received at or before that instant."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self.select, (after, stop, limit))
            rows = cursor.fetchall()
        facts, quarantined = [], []
        for row in rows:
            topic = row["topic"]
            if topic in MESSAGE_TOPICS:
                facts.append(self._fact(row))
            elif topic in QUARANTINE_TOPICS:
                quarantined.append(self._quarantined(row))
        if until is not None:
            facts = [f for f in facts if f.received_at <= until]
            quarantined = [q for q in quarantined if q.received_at <= until]
        return facts, quarantined, (_first(rows[-1]) if len(rows) == limit else stop)

    def _fact(self, row: Any) -> Fact:
        report = _decode(_without_nul(row["state"]))
        return Fact(
            id_sms=report.id_sms,
            state=report.state,
            time=report.time,
            instant=report.instant.data if report.instant else None,
            received_at=report.received_at.data,
            outcome=report.outcome,
            raw=report.raw,
        )

    def _quarantined(self, row: Any) -> Quarantined:
        item = _decode_quarantine(_without_nul(row["state"]))
        originator_id = row["originator_id"]
        return Quarantined(
            quarantine_id=originator_id if isinstance(originator_id, str) else originator_id.hex,
            received_at=item.received_at.data,
            reason=item.reason,
            kind=item.kind,
            raw=item.raw,
            encoding=item.encoding,
        )


NUL = b"\\u0000"  # as the event's JSON writes it: a backslash, then u0000
# ... when that backslash is not itself escaped: an even run of backslashes before it.
_ESCAPED_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def _without_nul(state: bytes) -> bytes:
    """The event's JSON with every NUL character in its strings replaced by U+FFFD."""
    return _ESCAPED_NUL.sub(rb"\1\\ufffd", state) if NUL in state else state


def _first(row: Any) -> int:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
