"""Reading the events in notification order, lean: one query and one decode per page.

The library's notification reader builds UUID objects, row mappings and event objects the views
never need. This reads the same rows as plain tuples and decodes them with the codec's structs,
a page at a time; tests/integration/test_views.py pins it against the library's own reading.

A NUL character in any text of an event reaches the views as U+FFFD: PostgreSQL text cannot
hold NUL, and one such status would otherwise stop the views for good. The event itself keeps it
(a message's history shows it exactly).
"""

from __future__ import annotations

import heapq
from datetime import datetime
from operator import itemgetter
from typing import Any
from uuid import UUID

import msgspec

from tracker.application import Tracker
from tracker.codec import decode
from tracker.domain.events import (
    Quarantined,
    QuarantinedAgain,
    Registered,
    Reported,
    ReportedAgain,
)
from tracker.domain.ids import id_sms_in, message_id
from tracker.domain.status import Report
from tracker.memo import Memo
from tracker.views.projection import Fact, QuarantineFact

REPORTED = Reported.TOPIC
QUARANTINE_TOPICS = (Quarantined.TOPIC, QuarantinedAgain.TOPIC)
_decode_reports = msgspec.msgpack.Decoder(list[Reported]).decode
_decode_again = msgspec.msgpack.Decoder(ReportedAgain).decode
AGAIN = ReportedAgain.TOPIC
_WITH_CHANNELS = 7  # a ReportedAgain array this long or longer may hold channels (its 7th field)


def _tells(topic: str, state: bytes) -> bool:
    """Whether a row is a repeat that gave channels, seen from its array's length alone (a
    fixarray's first byte) before it is decoded: most repeats are a few fields long."""
    return topic == AGAIN and 0x90 + _WITH_CHANNELS <= state[0] <= 0x9F


class EventLog:
    """The tracker's report and quarantine events, by notification id."""

    def __init__(
        self, tracker: Tracker, part: tuple[int, int] | None = None, *, exact: bool = False
    ):
        """With ``part`` = (k, n), only the events of the k-th of n parts of the messages
        (and of the quarantined input), split by aggregate id: a rebuild worker's share.
        ``exact``: every text as stored, NULs too (an export), not as the views take it."""
        self._clean = _as_stored if exact else _clean
        self.recorder = tracker.store
        self.parts = part[1] if part else 1
        self.part = part
        # Many events share their report (state, time, instant).
        self._reports = Memo(self._new_report, REMEMBERED)  # by (state, time, instant, reason)

    def head(self) -> int:
        """The last notification id in the store (0 when it is empty)."""
        return self.recorder.max_notification_id() or 0

    def page(
        self, after: int, stop: int, limit: int, until: datetime | None = None
    ) -> tuple[list[Fact], list[QuarantineFact], int]:
        """The report and quarantine events with ids in (after, end], and ``end``: the next
        ``limit`` ids (times the parts: about ``limit`` events of this part), or up to ``stop``.
        With ``until``, only the events received at or before that instant."""
        end = min(stop, after + limit * self.parts)
        rows = self.recorder.select_rows(after, end, self.part)  # (id, originator, topic, state)
        facts = self._facts([(n, k, state) for n, k, topic, state in rows if topic == REPORTED])
        told = [(i, n, k, s) for i, (n, k, topic, s) in enumerate(rows) if _tells(topic, s)]
        if told:  # repeats that gave channels, in their places among the reports
            at = [i for i, (_, _, topic, _) in enumerate(rows) if topic == REPORTED]
            again = [(i, f) for i, n, k, state in told if (f := self._again(n, k, state))]
            reports = zip(at, facts, strict=True)
            facts = [f for _, f in heapq.merge(reports, again, key=itemgetter(0))]
        quarantined = [
            self._quarantined(originator_id, topic, state)
            for _, originator_id, topic, state in rows
            if topic in QUARANTINE_TOPICS
        ]
        if until is not None:
            facts = [f for f in facts if f.received_at <= until]
            quarantined = [q for q in quarantined if q.received_at <= until]
        return facts, quarantined, end

    def _facts(self, rows: list[tuple[int, Any, bytes]]) -> list[Fact]:
        """The report events, decoded as one MessagePack array (one call per page); each
        distinct report made once (the lookups inline: this runs per event)."""
        if not rows:
            return []
        reports = self._reports
        events = _decode_reports(_array(len(rows)) + b"".join(state for _, _, state in rows))
        return [
            Fact(
                id_sms_in(int.from_bytes(key) if type(key) is bytes else key.int),
                reports.once(
                    (e.state, e.time, e.instant, e.reason),
                    len(e.state) + len(e.time) + len(e.reason or ""),
                ),
                e.received_at,
                e.outcome,
                self._clean(e.raw),
                self._clean(e.id_sent),
                e.raw_encoding,
                e.source,
                e.channels and self._clean_channels(e.channels),
                e.num_parts,
                e.price,
                False,
                position,
            )
            for (position, key, _), e in zip(rows, events, strict=True)
        ]

    def _again(self, position: int, key: Any, state: bytes) -> Fact | None:
        """A repeat that gave channels, as a fact that brings only them (None: it gave none)."""
        e: ReportedAgain = _decode_again(state)
        if not e.channels:
            return None
        report = self._reports.once(
            (e.state, e.time, e.instant, e.reason),
            len(e.state) + len(e.time) + len(e.reason or ""),
        )
        id_sms = id_sms_in(int.from_bytes(key) if type(key) is bytes else key.int)
        channels = self._clean_channels(e.channels)
        return Fact(
            id_sms,
            report,
            e.received_at,
            source=e.source,
            channels=channels,
            again=True,
            position=position,
        )

    def _clean_channels(self, channels: dict[str, str]) -> dict[str, str]:
        clean = self._clean
        return {clean(k): clean(v) for k, v in channels.items()}  # type: ignore[misc]

    def _new_report(self, key: tuple[str, str, datetime | None, str | None]) -> Report:
        state, time, instant, reason = key
        clean = self._clean
        return Report(clean(state), clean(time), instant, clean(reason))  # type: ignore[arg-type]

    def _quarantined(self, originator_id: Any, topic: str, state: bytes) -> QuarantineFact:
        event = decode(topic, state)
        key = _uuid(originator_id).hex
        if type(event) is Quarantined:
            return QuarantineFact(
                key,
                event.received_at,
                self._clean(event.reason),  # type: ignore[arg-type]
                event.kind,
                self._clean(event.raw),
                event.encoding,
            )
        return QuarantineFact(key, event.received_at, self._clean(event.reason))  # type: ignore[attr-defined, arg-type]


ENTRIES_AT_ONCE = 1000  # fetched and decoded per call: the event loop's thread waits one call
MessageEvent = Reported | ReportedAgain | Registered


def message_entries(tracker: Tracker, id_sms: int) -> list[MessageEvent]:
    """Every event of one message in version order, read as plain rows and decoded a slice at
    a time: never holding the interpreter long at once."""
    entries: list[MessageEvent] = []
    for part in tracker.store.select_states_of(message_id(id_sms), ENTRIES_AT_ONCE):
        entries += [decode(topic, state) for topic, state in part]  # type: ignore[misc]
    return entries


def _uuid(key: Any) -> UUID:
    """An id as a row holds it: 16 bytes (SQLite) or a UUID already (PostgreSQL)."""
    return UUID(bytes=key) if isinstance(key, bytes) else key


def _array(n: int) -> bytes:
    """The MessagePack header of an array of ``n`` elements (32-bit length: always valid)."""
    return b"\xdd" + n.to_bytes(4, "big")


REMEMBERED = 65_536  # distinct reports kept made


def _as_stored(text: str | None) -> str | None:
    return text


def _clean(text: str | None) -> str | None:
    """The text with every NUL character replaced by U+FFFD (see the module's note)."""
    return text.replace("\x00", "\ufffd") if text is not None and "\x00" in text else text
