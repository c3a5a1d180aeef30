"""Report events straight to the store's rows: the bytes the library's mapper writes (through
``stores.transcoder``) for ``Message.FirstReported`` and ``Message.StatusReported``, without
building the events first. The webhook's writer uses it; everything that reads events still
goes through the library (tests/unit/test_report_events.py holds the two equal)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import msgspec
from eventsourcing.utils import get_topic

from tracker.domain.ids import message_id
from tracker.domain.message import MESSAGE_TOPIC, NOT_SENT, Held, Message, Sent
from tracker.domain.status import Report
from tracker.memo import Memo

FIRST_REPORTED = get_topic(Message.FirstReported)
STATUS_REPORTED = get_topic(Message.StatusReported)


class ReportRow(msgspec.Struct, frozen=True, gc=False):
    """A stored report event: the four fields of the library's ``StoredEvent``, which its
    recorders read by name, in a struct that takes a seventh of the time to make."""

    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


def stamped(moment: datetime) -> dict[str, str]:
    """A datetime as the library's JSON transcoder writes it."""
    return {"_type_": "datetime_iso", "_data_": moment.isoformat()}


class ReportEvents:
    """Builds the stored form of a message's next report event.

    The JSON is joined from pieces encoded once: the head per transaction (its timestamp), the
    report's part per distinct report (state, time, instant), the receipt time per batch, the
    outcome's part per outcome; only the number and the raw item are encoded per event. The
    pieces follow the library's key order, so the bytes are the mapper's (a property test).
    """

    def __init__(self, ids: Callable[[int], UUID] = message_id, remember: int = 4096):
        self._ids = ids  # the store's message ids (Tracker.message_id)
        self._encode = msgspec.json.Encoder().encode
        self._reports = Memo(self._report_part, remember)  # statuses share state and second
        self._heads = Memo(self._head, 4)  # by (transaction's timestamp, first event or not)
        self._outcomes = Memo(self._outcome_part, 16)

    def stamp(self, moment: datetime) -> bytes:
        """A datetime as it appears in the event's JSON: for ``stored``'s instants."""
        return self._encode(stamped(moment))

    def stored(
        self,
        held: Held,
        report: Report,
        outcome: str,
        raw: str | None,
        received_at: bytes,
        timestamp: bytes,
        sent: Sent = NOT_SENT,
    ) -> ReportRow:
        """The event ``held`` just took ``report`` with (its version is the event's); the
        instants come already ``stamp``-ed: one per batch and one per transaction.

        The fields added to report events later (``id_sent``, ``reason``, ``raw_encoding``)
        are written only when they have a value: a stored event without one has the field's
        default (None), as events stored before the field existed do."""
        first = held.version == Message.INITIAL_VERSION
        state = b"".join(
            (
                self._heads[(timestamp, first)],
                b"%d" % held.id_sms,
                self._reports.once(report, len(report.state) + len(report.time)),
                received_at,
                self._outcomes[outcome],
                b"null" if raw is None else self._encode(raw),
                b"}" if sent is NOT_SENT and report.reason is None else self._added(sent, report),
            )
        )
        topic = FIRST_REPORTED if first else STATUS_REPORTED
        return ReportRow(self._ids(held.id_sms), held.version, topic, state)

    def _added(self, sent: Sent, report: Report) -> bytes:
        added = sent.fields(report)
        return b"".join(
            [b',"%s":%s' % (k.encode(), self._encode(v)) for k, v in added.items() if v is not None]
            + [b"}"]
        )

    def _head(self, key: tuple[bytes, bool]) -> bytes:
        timestamp, first = key  # the library's order: timestamp, then a creation's topic
        topic = b',"originator_topic":' + self._encode(MESSAGE_TOPIC) if first else b""
        return b'{"timestamp":' + timestamp + topic + b',"id_sms":'

    def _report_part(self, report: Report) -> bytes:
        instant = None if report.instant is None else stamped(report.instant)
        return b"".join(
            (
                b',"state":',
                self._encode(report.state),
                b',"time":',
                self._encode(report.time),
                b',"instant":',
                self._encode(instant),
                b',"received_at":',
            )
        )

    def _outcome_part(self, outcome: str) -> bytes:
        return b',"outcome":' + self._encode(outcome) + b',"raw":'
