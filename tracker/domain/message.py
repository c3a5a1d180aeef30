"""The message aggregate: the rules applied to each report as it arrives, and the events they make.

One class decides for the webhook's writer, for replays and for the tests: ``receive`` decides
what a report does (new or a repeat; its outcome) and records the decision in an event;
``apply`` takes an event in, deciding nothing, so replaying a history never validates, reads a
clock or does I/O. It keeps only what deciding needs (the reports' identities, the report that
sets the state, the earliest final one), not the reports: the history is the store's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import msgspec

from tracker.domain.events import Envelope, Event, Registered, Reported, ReportedAgain
from tracker.domain.ids import message_id
from tracker.domain.registration import REGISTERED, Registration, decide_registration
from tracker.domain.status import RANKS, Report, decide, fold_step, identity_of


class Sent(msgspec.Struct, frozen=True, gc=False):
    """How an item came, beyond its report: the id_sms as sent when it was a string (``"03234"``
    names message 3234 and is shown as sent), the raw item's encoding when its bytes were not
    UTF-8 (base64), its source when it was not the webhook ("poll"), and what it said beyond
    the report (the status per channel; a poll's parts and price)."""

    id_sms: str | None = None
    raw_encoding: str | None = None
    source: str | None = None
    channels: dict[str, str] | None = None
    num_parts: int | None = None
    price: float | None = None


NOT_SENT = Sent()


def registration_of(event: Registered) -> Registration:
    """The registration a stored event records."""
    return Registration(
        event.sent_at, event.sender, event.campaign, event.channel, event.parts, event.reason
    )


FEW_REPORTS = 8  # identities kept in a tuple up to this many, in a set beyond


class Message(msgspec.Struct, gc=False):
    """One SMS, identified by the platform's ``id_sms``; its state is the fold of its reports.

    Plain values all through (no cycle), so the garbage collector tracks none of it: the writer
    keeps tens of thousands in hand between requests at no cost to a collection's pause.
    """

    id_sms: int
    version: int = 0  # of its last event; 0 while it has none
    # Of the reports held: a tuple while they are few (quick, and untracked by the collector),
    # a set past FEW_REPORTS (a tuple's lookups and copies would make n reports cost n^2).
    identities: tuple[tuple[str, ...], ...] | set[tuple[str, ...]] = ()
    current: Report | None = None  # the report that sets the state: fold(reports)
    earliest_final: tuple | None = None  # fold order of its earliest final report
    registration: Registration | None = None  # the registration that stands (the first)
    # Every distinct registration received (a tuple while few, a set beyond, as identities).
    registrations: tuple[Registration, ...] | set[Registration] = ()
    # The events decided and not yet collected for the store, and where among them the repeats
    # of each report at each receipt are counted; None between writes (nothing to track).
    pending: list[Envelope] | None = None
    counting: dict[tuple, tuple[tuple, int]] | None = None

    @property
    def id(self) -> UUID:
        """The aggregate id (the library's originator id) of this message."""
        return message_id(self.id_sms)

    @property
    def final(self) -> bool:
        return self.current is not None and self.current.final

    @classmethod
    def replay(cls, id_sms: int, history: Iterable[Envelope]) -> Message:
        """The message as its stored events leave it."""
        message = cls(id_sms)
        for envelope in history:
            message.apply(envelope.event)
            message.version = envelope.originator_version
        return message

    def receive(
        self, report: Report, received_at: datetime, raw: str | None = None, sent: Sent = NOT_SENT
    ) -> str | None:
        """Take a report in: its outcome, or None for an exact repeat, which is recorded as
        received again (an auditor sees every delivery; the state is not touched). Repeats of
        one report received at one instant (one request) are one event that counts them."""
        if report.identity in self.identities:
            self._again(report, received_at, sent)
            return None
        outcome = decide(report, self.current, self.earliest_final)
        event = Reported(
            report.state,
            report.time,
            report.instant,
            received_at,
            outcome,
            raw,
            sent.id_sms,
            report.reason,
            sent.raw_encoding,
            sent.source,
            sent.channels,
            sent.num_parts,
            sent.price,
        )
        self._hold(report)
        self._pend(event)
        return outcome

    def register(
        self,
        registration: Registration,
        received_at: datetime,
        raw: str | None = None,
        id_sent: str | None = None,
    ) -> str | None:
        """Take a registration in: its outcome (domain.registration), or None when the message
        has received the same one before (nothing is recorded: it says nothing new)."""
        outcome = decide_registration(registration, self.registration, self.registrations)
        if outcome is None:
            return None
        r = registration
        self._registered(r, outcome)
        raw = raw if r.reason is not None else None
        self._pend(
            Registered(
                received_at, outcome, r.sent_at, r.sender, r.campaign, r.channel, r.parts,
                r.reason, raw, id_sent,
            )
        )  # fmt: skip
        return outcome

    def apply(self, event: Event) -> None:
        """Take in an event decided before (a replay): no rule is applied again. A report the
        fold never reads (unknown state, or rejected at receipt) is only its identity."""
        if type(event) is Reported:
            if event.reason is None and event.state in RANKS:
                self._hold(Report(event.state, event.time, event.instant))
            else:
                self._remember(identity_of(event.state, event.time, event.reason))
        elif type(event) is Registered:
            self._registered(registration_of(event), event.outcome)

    def _registered(self, registration: Registration, outcome: str) -> None:
        self.registrations = _added(self.registrations, registration)
        if outcome == REGISTERED:
            self.registration = registration

    def collect_events(self) -> list[Envelope]:
        """The events decided since the last call, for the store (the library's name)."""
        pending, self.pending, self.counting = self.pending, None, None
        return pending or []

    def _again(self, report: Report, received_at: datetime, sent: Sent) -> None:
        channels = sent.channels
        listed = channels and tuple(sorted(channels.items()))
        said = (sent.source, listed, sent.num_parts, sent.price)
        key = (report.identity, received_at)  # counted while they say the same in a row:
        counting = self.counting if self.counting is not None else {}  # the last said stands last
        self.counting = counting
        last = counting.get(key)
        if last is None or last[0] != said:
            self._pend(
                ReportedAgain(
                    report.state,
                    report.time,
                    received_at,
                    1,
                    report.reason,
                    sent.source,
                    channels,
                    sent.num_parts,
                    sent.price,
                    report.instant if channels else None,
                )
            )
            counting[key] = (said, len(self.pending) - 1)  # type: ignore[arg-type]
            return
        n = last[1]
        envelope = self.pending[n]  # type: ignore[index]
        seen: ReportedAgain = envelope.event  # type: ignore[assignment]
        counted = msgspec.structs.replace(seen, times=seen.times + 1)
        self.pending[n] = Envelope(envelope.originator_id, envelope.originator_version, counted)  # type: ignore[index]

    def _pend(self, event: Event) -> None:
        self.version += 1
        envelope = Envelope(message_id(self.id_sms), self.version, event)
        if self.pending is None:
            self.pending = [envelope]
        else:
            self.pending.append(envelope)

    def _hold(self, report: Report) -> None:
        """Constant work whatever the number held (a message with 40,000 reports must cost
        40,000 times one, not its square)."""
        self._remember(report.identity)
        self.current = fold_step(self.current, report)
        if report.final and (self.earliest_final is None or report.order < self.earliest_final):
            self.earliest_final = report.order

    def _remember(self, identity: tuple[str, ...]) -> None:
        self.identities = _added(self.identities, identity)


def _added(held: tuple | set, item: object) -> tuple | set:
    """``held`` with ``item``: a tuple while few (quick, untracked by the collector), a set
    past FEW_REPORTS (a tuple's lookups and copies would make n items cost n^2)."""
    if type(held) is set:
        held.add(item)
        return held
    if len(held) < FEW_REPORTS:
        return (*held, item)
    return {*held, item}
