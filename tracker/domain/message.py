"""The message aggregate: every distinct status report for one ``id_sms``, as events.

Commands decide (duplicate or not, and the outcome); event bodies only record the decision, so
replaying the history never validates, reads a clock or does I/O.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from tracker.domain.ids import message_id
from tracker.domain.status import (
    Report,
    decide,
    decide_after,
    decide_kept,
    fold_step,
)


class Message(Aggregate):
    """One SMS, identified by the platform's ``id_sms``; its state is the fold of its reports.

    Attributes (set by ``FirstReported.mutate``; no class annotations, which the library would
    read as dataclass fields): ``id_sms``, ``reports`` (every distinct report, in arrival order)
    and ``current`` (the fold of the reports: the report that sets the state, or None).
    """

    @staticmethod
    def create_id(id_sms: int) -> UUID:
        return message_id(id_sms)

    @classmethod
    def first_report(
        cls, id_sms: int, report: Report, received_at: datetime, raw: str | None = None
    ) -> Message:
        """A new message, opened by the first report ever received for it."""
        opened = cls.FirstReported(
            originator_topic=MESSAGE_TOPIC,
            originator_id=message_id(id_sms),
            originator_version=cls.INITIAL_VERSION,
            timestamp=cls.FirstReported.create_timestamp(),
            id_sms=id_sms,
            state=report.state,
            time=report.time,
            instant=report.instant,
            received_at=received_at,
            outcome=decide(report, ()),
            raw=raw,
        )
        message = opened.mutate(None)
        message.pending_events.append(opened)
        return message

    class FirstReported(Aggregate.Created):
        """The first report of a message, which opens it.

        Built and applied here rather than by the library's ``_create``: that path matches the
        event's attributes to ``__init__``'s signature twice per new message (a fifth of ingest
        time, measured). The stored form is the same (topic, attributes, originator_topic).
        """

        id_sms: int
        state: str
        time: str
        instant: datetime | None
        received_at: datetime
        outcome: str
        raw: str | None

        def mutate(self, aggregate: Message | None) -> Message:  # type: ignore[override]
            assert aggregate is None
            message = Message.__new__(Message)
            message.__base_init__(self.originator_id, self.originator_version, self.timestamp)
            message.id_sms = self.id_sms
            message.reports = []
            message.current = None
            message._hold(Report(self.state, self.time, self.instant))
            return message

    def report(self, report: Report, received_at: datetime, raw: str | None = None) -> str | None:
        """Record a report; return its outcome, or None for an exact repeat (nothing recorded)."""
        if report.identity in self._identities:
            return None
        outcome = decide_after(report, self.current, self.reports)
        self.trigger_event(
            self.StatusReported,
            id_sms=self.id_sms,
            state=report.state,
            time=report.time,
            instant=report.instant,
            received_at=received_at,
            outcome=outcome,
            raw=raw,
        )
        return outcome

    class StatusReported(Aggregate.Event):
        """A report after the first. A class of its own rather than an ``@event`` method: the
        decorator matches arguments to signatures on every call (a tenth of ingest, measured)."""

        id_sms: int  # redundant with the aggregate, so that every event names its message
        state: str
        time: str
        instant: datetime | None
        received_at: datetime
        outcome: str
        raw: str | None

        def apply(self, aggregate: Message) -> None:  # type: ignore[override]
            aggregate._hold(Report(self.state, self.time, self.instant))

    def _hold(self, report: Report) -> None:
        self.reports.append(report)
        self.current = fold_step(self.current, report)

    @property
    def _identities(self) -> set[tuple[str, str]]:
        return {r.identity for r in self.reports}

    @property
    def final(self) -> bool:
        return self.current is not None and self.current.final


class Held(msgspec.Struct, gc=False):
    """What the webhook's writer keeps of a message between reports: enough to decide as
    ``Message.report`` does (which report sets the state, the earliest final one, the reports
    already held), without the aggregate's machinery or its list of reports.

    Plain values all through (no set, no cycle), so the garbage collector tracks none of it: a
    writer keeping tens of thousands of messages adds nothing to a collection's pause. A
    property test holds the events written from it equal to the aggregate's.
    """

    id_sms: int
    version: int = 0  # of its last event; 0 while it has none
    identities: tuple[tuple[str, str], ...] = ()  # of the reports held (a few: a tuple is quick)
    current: Report | None = None
    earliest_final: tuple | None = None  # fold order of its earliest final report

    def take(self, report: Report) -> str | None:
        """Hold a report and return its outcome; None for an exact repeat (nothing held)."""
        if report.identity in self.identities:
            return None
        outcome = decide_kept(report, self.current, self.earliest_final)
        self.hold(report)
        self.version += 1
        return outcome

    def hold(self, report: Report) -> None:
        self.identities += (report.identity,)
        self.current = fold_step(self.current, report)
        if report.final and (self.earliest_final is None or report.order < self.earliest_final):
            self.earliest_final = report.order


def receive(
    message: Message | None,
    id_sms: int,
    report: Report,
    received_at: datetime,
    raw: str | None = None,
) -> tuple[Message, str | None]:
    """Add a report to a message, opening the message when it is new.

    Returns the message and the report's outcome (None for an exact repeat: nothing recorded).
    """
    if message is None:
        return Message.first_report(id_sms, report, received_at, raw), decide(report, ())
    return message, message.report(report, received_at, raw)


MESSAGE_TOPIC = get_topic(Message)
