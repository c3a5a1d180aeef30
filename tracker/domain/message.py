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
from tracker.domain.status import Report, decide, decide_kept, fold_step, identity_of


class Sent(msgspec.Struct, frozen=True, gc=False):
    """How an item came, beyond its report: the id_sms as sent when it was a string (``"03234"``
    names message 3234 and is shown as sent), and the raw item's encoding when its bytes were
    not UTF-8 (base64). What a report event records of them."""

    id_sms: str | None = None
    raw_encoding: str | None = None

    def fields(self, report: Report) -> dict[str, str | None]:
        return {"id_sent": self.id_sms, "reason": report.reason, "raw_encoding": self.raw_encoding}


NOT_SENT = Sent()


def _report_of(event: Message.FirstReported | Message.StatusReported) -> Report:
    """The report a report event carries (what the aggregate, replays and reads fold)."""
    return Report(event.state, event.time, event.instant, event.reason)


class Message(Aggregate):
    """One SMS, identified by the platform's ``id_sms``; its state is the fold of its reports.

    Attributes (set by ``FirstReported.mutate``; no class annotations, which the library would
    read as dataclass fields): ``id_sms``, ``reports`` (every distinct report, in arrival order),
    ``identities`` (theirs), ``current`` (the fold of the reports: the report that sets the
    state, or None) and ``earliest_final`` (the fold order of the earliest final report).
    """

    @staticmethod
    def create_id(id_sms: int) -> UUID:
        return message_id(id_sms)

    @classmethod
    def first_report(
        cls,
        id_sms: int,
        report: Report,
        received_at: datetime,
        raw: str | None = None,
        sent: Sent = NOT_SENT,
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
            **sent.fields(report),
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
        # Added later, so with defaults: a stored event without the key has the default.
        id_sent: str | None = None  # the id_sms as sent, when it was a JSON string
        reason: str | None = None  # why it was rejected at receipt (a value not readable)
        raw_encoding: str | None = None  # "base64" when the raw item was not UTF-8

        report = property(lambda self: _report_of(self))

        def mutate(self, aggregate: Message | None) -> Message:  # type: ignore[override]
            assert aggregate is None
            message = Message.__new__(Message)
            message.__base_init__(self.originator_id, self.originator_version, self.timestamp)
            message.id_sms = self.id_sms
            message.reports = []
            message.identities = set()
            message.current = None
            message.earliest_final = None
            message._hold(self.report)
            return message

    def report(
        self,
        report: Report,
        received_at: datetime,
        raw: str | None = None,
        sent: Sent = NOT_SENT,
    ) -> str | None:
        """Record a report; return its outcome, or None for an exact repeat, which is recorded
        as received again (an auditor sees every delivery; the state is not touched)."""
        if report.identity in self.identities:
            self.trigger_event(
                self.ReportedAgain,
                id_sms=self.id_sms,
                state=report.state,
                time=report.time,
                reason=report.reason,
                received_at=received_at,
                times=1,
            )
            return None
        outcome = decide_kept(report, self.current, self.earliest_final)
        self.trigger_event(
            self.StatusReported,
            id_sms=self.id_sms,
            state=report.state,
            time=report.time,
            instant=report.instant,
            received_at=received_at,
            outcome=outcome,
            raw=raw,
            **sent.fields(report),
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
        id_sent: str | None = None  # as FirstReported's
        reason: str | None = None
        raw_encoding: str | None = None

        report = property(lambda self: _report_of(self))

        def apply(self, aggregate: Message) -> None:  # type: ignore[override]
            aggregate._hold(self.report)

    class ReportedAgain(Aggregate.Event):
        """A report the message already holds, received again ``times`` times at
        ``received_at`` (the platform resends what it saw no acknowledgement for; one event
        per batch and report, however many copies the batch held). Names the report by its
        identity: state, time and, for a report rejected at receipt, the reason."""

        id_sms: int
        state: str
        time: str
        reason: str | None
        received_at: datetime
        times: int

        def apply(self, aggregate: Message) -> None:  # type: ignore[override]
            pass  # a delivery, not a report: the state and the reports held stay as they are

        @property
        def identity(self) -> tuple[str, ...]:
            return identity_of(self.state, self.time, self.reason)

    def _hold(self, report: Report) -> None:
        """Take a report in: constant work whatever the number held (a message with 40,000
        reports must cost 40,000 times one, not its square)."""
        self.reports.append(report)
        self.identities.add(report.identity)
        self.current = fold_step(self.current, report)
        if report.final and (self.earliest_final is None or report.order < self.earliest_final):
            self.earliest_final = report.order

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
    # Of the reports held: a tuple while they are few (quick, and untracked by the collector),
    # a set past FEW_REPORTS (a tuple's lookups and copies would make n reports cost n^2).
    identities: tuple[tuple[str, ...], ...] | set[tuple[str, ...]] = ()
    current: Report | None = None
    earliest_final: tuple | None = None  # fold order of its earliest final report

    def take(self, report: Report) -> str | None:
        """Hold a report and return its outcome; None for an exact repeat (nothing held: its
        delivery is recorded with ``again``)."""
        if report.identity in self.identities:
            return None
        outcome = decide_kept(report, self.current, self.earliest_final)
        self.hold(report)
        self.version += 1
        return outcome

    def again(self) -> int:
        """The version of a ``ReportedAgain`` event to be written for this message."""
        self.version += 1
        return self.version

    def hold(self, report: Report) -> None:
        identities = self.identities
        if type(identities) is set:
            identities.add(report.identity)
        elif len(identities) < FEW_REPORTS:
            self.identities = (*identities, report.identity)
        else:
            self.identities = {*identities, report.identity}
        self.current = fold_step(self.current, report)
        if report.final and (self.earliest_final is None or report.order < self.earliest_final):
            self.earliest_final = report.order


def receive(
    message: Message | None,
    id_sms: int,
    report: Report,
    received_at: datetime,
    raw: str | None = None,
    sent: Sent = NOT_SENT,
) -> tuple[Message, str | None]:
    """Add a report to a message, opening the message when it is new.

    Returns the message and the report's outcome (None for an exact repeat, recorded as
    received again).
    """
    if message is None:
        opened = Message.first_report(id_sms, report, received_at, raw, sent)
        return opened, decide(report, ())
    return message, message.report(report, received_at, raw, sent)


FEW_REPORTS = 8  # Held keeps up to this many identities in a tuple, more in a set


MESSAGE_TOPIC = get_topic(Message)
REPORTED_AGAIN = get_topic(Message.ReportedAgain)
