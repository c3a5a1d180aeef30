"""Report events straight to the store's rows: the bytes the library's mapper writes (through
``stores.transcoder``) for ``Message.FirstReported`` and ``Message.StatusReported``, without
building the events first. The webhook's writer uses it; everything that reads events still
goes through the library (tests/unit/test_report_events.py holds the two equal)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import msgspec
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from tracker.domain.ids import message_id
from tracker.domain.message import MESSAGE_TOPIC, Held, Message
from tracker.domain.status import Report
from tracker.memo import Memo

FIRST_REPORTED = get_topic(Message.FirstReported)
STATUS_REPORTED = get_topic(Message.StatusReported)


def stamped(moment: datetime) -> dict[str, str]:
    """A datetime as the library's JSON transcoder writes it."""
    return {"_type_": "datetime_iso", "_data_": moment.isoformat()}


class ReportEvents:
    """Builds the stored form of a message's next report event."""

    def __init__(self, ids: Callable[[int], UUID] = message_id, remember: int = 4096):
        self._ids = ids  # the store's message ids (Tracker.message_id)
        self._encode = msgspec.json.Encoder().encode
        self._instants = Memo(stamped, remember)  # statuses share their seconds

    def stored(
        self,
        held: Held,
        report: Report,
        outcome: str,
        raw: str | None,
        received_at: dict[str, str],
        timestamp: dict[str, str],
    ) -> StoredEvent:
        """The event ``held`` just took ``report`` with (its version is the event's); the
        instants come already ``stamped``: one per batch and one per transaction."""
        instant = None if report.instant is None else self._instants[report.instant]
        fields = {
            "id_sms": held.id_sms,
            "state": report.state,
            "time": report.time,
            "instant": instant,
            "received_at": received_at,
            "outcome": outcome,
            "raw": raw,
        }
        if held.version == Message.INITIAL_VERSION:  # the library's order: timestamp first
            state = {"timestamp": timestamp, "originator_topic": MESSAGE_TOPIC, **fields}
            topic = FIRST_REPORTED
        else:
            state = {"timestamp": timestamp, **fields}
            topic = STATUS_REPORTED
        return StoredEvent(
            originator_id=self._ids(held.id_sms),
            originator_version=held.version,
            topic=topic,
            state=self._encode(state),
        )
