"""The event-sourced application: record a batch of reports in one transaction, read histories."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import partial
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, PersistenceError
from eventsourcing.utils import Environment

from tracker.codec import UnknownTopic, decode, encode
from tracker.domain.events import MESSAGE_EVENTS, Envelope, ReportedAgain
from tracker.domain.ids import id_sms_of, message_id
from tracker.domain.message import NOT_SENT, Message, Sent
from tracker.domain.quarantine import QuarantinedInput, quarantine_id
from tracker.domain.status import Report
from tracker.domain.timestamps import DEFAULT_ZONE, TimeOutOfRange, parse_time, zone
from tracker.memo import Memo

log = logging.getLogger("tracker")


class Status(msgspec.Struct, frozen=True, gc=False):
    """One incoming status whose ``id_sms`` names a message; state and time as received (a
    struct: one is made per item of every request, in a seventh of a frozen dataclass's time)."""

    id_sms: int
    state: str
    time: str
    raw: str | None = None  # the item's JSON text, kept when it was not the plain documented form
    sent: str | None = None  # the id_sms as sent when it was a JSON string ("03234")
    reason: str | None = None  # why the item is rejected at receipt: a value could not be read
    raw_encoding: str | None = None  # "base64" when raw holds bytes that were not UTF-8


@dataclass(frozen=True, slots=True)
class Unusable:
    """Input that names no message: kept in quarantine with the reason."""

    kind: str  # domain.quarantine.ITEM or BODY
    raw: str
    reason: str
    encoding: str = "utf-8"  # or "base64" when the bytes were not valid UTF-8


@dataclass(frozen=True, slots=True)
class Batch:
    """What one webhook request brought: its statuses and its unusable input.

    Its receipt time is stamped by the writer as it stores the batch (one clock, in the
    order of the log); ``received_at`` replaces the clock's reading (imports, tests), and is
    moved forward like it when the log already holds a later receipt."""

    statuses: tuple[Status, ...]
    unusable: tuple[Unusable, ...] = ()
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one ``record`` call durably stored: every id in ``stored`` may be acknowledged."""

    stored: frozenset[int]
    outcomes: Mapping[str, int] = field(default_factory=dict)  # new reports by outcome
    duplicates: int = 0
    quarantined: int = 0
    attempts: int = 1


DUPLICATE = "duplicate"  # an exact repeat: acknowledged, recorded as received again


class StoreUnavailable(Exception):
    """The event store could not commit (down, locked, or contended past the retry budget)."""


class ReceiptBehind(Exception):
    """The log's last event was received after the receipt time a group was stamped with."""


class OutcomeUnknown(StoreUnavailable):
    """Whether a batch was committed is not known (its receipt never came): it may have been.
    The answer must not say it was not; the platform's resend finds out (a repeat)."""


class WrittenMessages:
    """What the writer knows of the store between groups: the messages it wrote lately (so
    that the next report for one of them needs no read; bounded, least recently used out),
    the position of the log it has seen, and the latest receipt time in the log.

    It stays correct with other writers: before each use it reads the events stored since
    its position, forgets their messages and moves its receipt clock past theirs (or forgets
    everything, after a long gap). It stays correct if the log goes back under it (a restore
    from a backup, a failover to a lagging replica): the event it saw last at its position
    must still be there, or it forgets everything before deciding anything. A write that
    fails clears it. Another process writing between that check and our insert (PostgreSQL,
    several hosts) makes the insert clash on the message's version, which is retried with
    everything read again.
    """

    def __init__(self, size: int = 50_000):
        self.size = size
        self.lock = threading.Lock()  # one writer at a time uses it (the group commit thread)
        # By id_sms. A Message is plain values the garbage collector never tracks (a full
        # collection over 50,000 tracked messages paused every request ~150 ms, measured).
        self._messages: OrderedDict[int, Message] = OrderedDict()
        # The event last seen at the position up to which it reflects the store, as
        # (notification id, originator id, version, hash of its bytes); None: nothing known.
        self._mark: Mark | None = None
        # Our last write's last event, when others' events came between the mark and it: the
        # log must still hold it too (a restore to a point between them lost our write).
        self._witness: Mark | None = None
        # The latest receipt time stored, as far as seen: no receipt is stamped before it.
        self.latest = datetime.min.replace(tzinfo=UTC)

    def catch_up(self, recorder: Any) -> int:
        """Forget the messages written by others since our last look; the store's head.

        One read when all is well: the log from the mark on, which is the mark alone when no
        one else wrote (its last event is the head)."""
        mark = self._mark
        if mark is not None:
            page = recorder.select_notifications(mark[0], FORGET_ALL_AFTER + 1)
            held = bool(page) and _mark_of(page[0]) == mark and self._witnessed(page)
            if held and len(page) <= FORGET_ALL_AFTER:
                for notification in page[1:]:
                    self._saw(notification, forget=True)
                self._mark, self._witness = _mark_of(page[-1]), None
                return page[-1].id
            if not held:
                log.warning(
                    "the event store no longer holds event %d as this writer saw it (restored "
                    "from a backup? failed over?): forgetting every message in hand",
                    mark[0],
                )
        self._messages.clear()
        self._mark = self._witness = None
        head = recorder.max_notification_id() or 0
        if head:  # start afresh from the head: its receipt time is the latest in the log
            for notification in recorder.select_notifications(head, 1, stop=head):
                self._saw(notification, forget=False)
                self._mark = _mark_of(notification)
        return head

    def _witnessed(self, page: Sequence[Any]) -> bool:
        """Whether the page (from the mark to the head) still holds our last write's event."""
        witness = self._witness
        return witness is None or any(n.id == witness[0] and _mark_of(n) == witness for n in page)

    def not_behind(self, earliest: datetime, topic: str, state: bytes) -> None:
        """Raise ``ReceiptBehind`` if the log's last event (seen under the store's write lock,
        just before our insert) was received after ``earliest``, our group's first receipt
        time: a writer on another host stored it since we looked. The group is then stamped
        again, so that receipt times never go back in the order of the log."""
        moment = _received_at(topic, state)
        if moment is not None and moment > earliest:
            self.saw_receipt(moment)
            raise ReceiptBehind(moment)

    def saw_receipt(self, moment: datetime | None) -> None:
        """A receipt time the log holds: none is stamped before it from now on."""
        if moment is not None and moment > self.latest:
            self.latest = moment

    def _saw(self, notification: Any, forget: bool) -> None:
        """An event stored by another writer: its message is forgotten, its time taken in."""
        if forget and notification.topic in MESSAGE_TOPICS:
            self._messages.pop(id_sms_of(notification.originator_id), None)
        self.saw_receipt(_received_at(notification.topic, notification.state))

    def take(self, numbers: set[int]) -> dict[int, Message]:
        """The messages among these in hand. The writer changes them in place as it decides;
        should the write fail, ``clear`` forgets them all."""
        held = self._messages
        found = ((n, held.get(n)) for n in numbers)
        return {n: message for n, message in found if message is not None}

    def keep(
        self, messages: Iterable[Message], head: int, recorded: list[int], last: Envelope | None
    ) -> None:
        """After a commit: keep these; our events' ids follow ``head`` unless others' came in
        between, and then those are read (and their messages forgotten) next time. ``last``
        is the last event stored: the mark then, or else a witness the log must still hold."""
        for message in messages:
            self._messages[message.id_sms] = message
            self._messages.move_to_end(message.id_sms)
        while len(self._messages) > self.size:
            self._messages.popitem(last=False)
        if last is None:
            return
        ours = (recorded[-1], last.originator_id, last.originator_version, hash(encode(last.event)))
        if recorded == list(range(head + 1, head + 1 + len(recorded))):
            self._mark = ours
        else:  # others' events came first: they are read from the mark next time
            self._witness = ours

    def clear(self) -> None:
        self._messages.clear()
        self._mark = self._witness = None


# An event as the writer recognises it again: notification id, aggregate, version, bytes.
Mark = tuple[int, UUID, int, int]


def _mark_of(notification: Any) -> Mark:
    n = notification
    return (n.id, n.originator_id, n.originator_version, hash(bytes(n.state)))


def _received_at(topic: str, state: bytes) -> datetime | None:
    """The receipt time of a stored event (every event of ours has one; None for a row
    of another kind)."""
    try:
        return decode(topic, state).received_at  # type: ignore[attr-defined, no-any-return]
    except (UnknownTopic, msgspec.DecodeError):
        return None


MESSAGE_TOPICS = frozenset(event.TOPIC for event in MESSAGE_EVENTS)  # a message's events
REPORTS_REMEMBERED = 8192  # distinct (state, time) reports the writer keeps made
FORGET_ALL_AFTER = 20_000  # events by others since our last write: simpler to forget it all


class Tracker(Application):
    """Records delivery statuses as events of per-message aggregates."""

    name = "tracker"
    max_attempts = 8  # version clashes retried before giving up with StoreUnavailable

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        local_zone: tzinfo | str = DEFAULT_ZONE,
        writing: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        super().__init__(env)
        self.local_zone = zone(local_zone) if isinstance(local_zone, str) else local_zone
        # Held around each load-decide-save of a group of batches: the store may make the
        # writers of one host take turns (SQLite), so they never clash with each other.
        self.writing = writing
        self.written = WrittenMessages()
        # Statuses of one batch often share their state and second: each distinct report is
        # made once (its time parsed, its fold order computed) and remembered.
        self._reports = Memo(self._new_report, REPORTS_REMEMBERED)  # by (state, time)

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # The composition root passes every store setting; the process environment is not
        # read behind its back (a stray POSTGRES_* variable must not redirect the store).
        return Environment(name, dict(env or {}))

    def record(
        self,
        statuses: Sequence[Status],
        unusable: Sequence[Unusable] = (),
        received_at: datetime | None = None,
    ) -> Receipt:
        """Store every new report and quarantined input of one batch in a single transaction
        (``received_at``: see ``Batch``)."""
        batch = Batch(tuple(statuses), tuple(unusable), received_at)
        return self.record_batches([batch])[0]

    def record_batches(self, batches: Sequence[Batch]) -> list[Receipt]:
        """Store several batches in a single transaction; one receipt per batch, in order.

        Returns only after the commit. Another process appending to one of the same messages
        meanwhile makes the commit fail as a whole; then everything is reloaded and decided
        again, up to ``max_attempts`` times. Should they all clash, nothing is stored and the
        receipts say so (``stored`` empty): the platform re-sends what is not acknowledged, so
        contention costs a retry, never an error.
        """
        parsed = [[(s, self._report(s)) for s in batch.statuses] for batch in batches]
        for attempt in range(1, self.max_attempts + 1):
            try:
                with self.writing(), self.written.lock:
                    try:
                        return self._record_once(batches, parsed, attempt)
                    except BaseException:
                        self.written.clear()  # messages in hand may hold events not stored
                        raise
            except IntegrityError:
                time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))
            except ReceiptBehind:  # another writer stored a later receipt: stamp again, now
                pass
            except PersistenceError as e:
                raise StoreUnavailable(str(e) or type(e).__name__) from e
        log.warning(
            "stored nothing of %d batch(es): other writers kept appending to the same messages "
            "through %d attempts; the platform will send them again",
            len(batches),
            self.max_attempts,
        )
        return [Receipt(stored=frozenset(), attempts=self.max_attempts) for _ in batches]

    def _record_once(
        self,
        batches: Sequence[Batch],
        parsed: Sequence[Sequence[tuple[Status, Report]]],
        attempt: int,
    ) -> list[Receipt]:
        """Load, decide (each message's ``receive``), save: the events in the order of the
        batches, so that receipt times never go back in the order of the log."""
        wanted = {s.id_sms for batch in batches for s in batch.statuses}
        written = self.written
        head = written.catch_up(self.recorder)  # forget what other writers changed since
        messages = written.take(wanted)
        messages.update(self._load_all(wanted - messages.keys()))
        quarantine = QuarantineReceipts(self, batches)
        events: list[Envelope] = []
        receipts = []
        now = datetime.now(UTC)
        earliest = max(batches[0].received_at or now, written.latest)  # this group's first stamp
        for batch, reports in zip(batches, parsed, strict=True):
            outcomes: Counter[str] = Counter()
            # One clock: stamped here, in the order of the log, never before a receipt the
            # log already holds (another writer's, or a clock that stepped back).
            moment = written.latest = max(batch.received_at or now, written.latest)
            touched: dict[int, Message] = {}
            for status, report in reports:
                message = messages.get(status.id_sms)
                if message is None:
                    message = messages[status.id_sms] = Message(status.id_sms)
                touched[status.id_sms] = message
                outcome = message.receive(report, moment, status.raw, _sent(status))
                outcomes[DUPLICATE if outcome is None else outcome] += 1
            for message in touched.values():
                events += message.collect_events()
            events += quarantine.receive(batch.unusable, moment)
            receipts.append(
                Receipt(
                    stored=frozenset(s.id_sms for s in batch.statuses),
                    duplicates=outcomes.pop(DUPLICATE, 0),
                    outcomes=dict(outcomes),
                    quarantined=len(batch.unusable),
                    attempts=attempt,
                )
            )
        check = partial(written.not_behind, earliest)
        # The library's event store, as Application.save would use it, without save's check of
        # every event against a runtime protocol (a third of the writer's time, measured).
        recordings = self.events.put(events, check_last=check)
        recorded = [r.notification.id for r in recordings]
        written.keep(messages.values(), head, recorded, events[-1] if events else None)
        return receipts

    def _report(self, status: Status) -> Report:
        if status.reason is not None:  # rejected at receipt: never folded
            return Report(status.state, status.time, self._instant(status.time), status.reason)
        return self._reports.once((status.state, status.time), len(status.state) + len(status.time))

    def _new_report(self, key: tuple[str, str]) -> Report:
        state, time = key
        try:
            return Report(state, time, parse_time(time, self.local_zone))
        except TimeOutOfRange as e:
            return Report(state, time, None, f"time {e}")

    def _instant(self, time: str) -> datetime | None:
        """The instant of a rejected report's time, where it has one: the timeline shows it
        in its place among the others (the fold never reads it)."""
        try:
            return parse_time(time, self.local_zone)
        except TimeOutOfRange:
            return None

    def _load_all(self, numbers: set[int]) -> dict[int, Message]:
        """The messages among these that exist, read in one query (both stores' recorders have
        ``select_events_of``) and replayed; none when all are in hand already."""
        if not numbers:
            return {}
        histories: dict[UUID, list[Envelope]] = {}
        to_envelope = self.mapper.to_domain_event
        for stored in self.recorder.select_events_of([message_id(n) for n in numbers]):  # type: ignore[attr-defined]
            histories.setdefault(stored.originator_id, []).append(to_envelope(stored))
        return {
            (n := id_sms_of(key)): Message.replay(n, history) for key, history in histories.items()
        }

    def message(self, id_sms: int) -> Message | None:
        """The message as it stands now, or None when nothing was ever received for it."""
        history = self.history(id_sms, repeats=True)
        return None if not history else Message.replay(id_sms, history)

    def last_notification(self, id_sms: int) -> int | None:
        """The position in the log of the message's last event (None: it has none)."""
        try:
            return self.recorder.last_notification_of(message_id(id_sms))  # type: ignore[attr-defined]
        except PersistenceError as e:
            raise StoreUnavailable(str(e) or type(e).__name__) from e

    def history(self, id_sms: int, repeats: bool = False) -> list[Envelope]:
        """Every report event of the message in arrival order (empty when there is none);
        with ``repeats``, the events recording its reports received again too."""
        try:
            events: Iterable[Envelope] = self.events.get(message_id(id_sms))  # type: ignore[assignment]
            if repeats:
                return list(events)
            return [e for e in events if type(e.event) is not ReportedAgain]
        except PersistenceError as e:
            raise StoreUnavailable(str(e) or type(e).__name__) from e


class QuarantineReceipts:
    """A group's quarantined input as events, decided from each item's last stored event
    alone (one read for the whole group). The same input twice in one request is one receipt."""

    def __init__(self, tracker: Tracker, batches: Sequence[Batch]):
        keys = {quarantine_id(u.kind, u.raw) for b in batches for u in b.unusable}
        self.inputs: dict[UUID, QuarantinedInput] = {}
        for stored in tracker.recorder.select_last_events_of(list(keys)) if keys else ():  # type: ignore[attr-defined]
            moment = _received_at(stored.topic, stored.state)
            self.inputs[stored.originator_id] = QuarantinedInput(
                stored.originator_id, stored.originator_version, moment
            )
            tracker.written.saw_receipt(moment)  # a store written before one clock

    def receive(self, items: Iterable[Unusable], received_at: datetime) -> list[Envelope]:
        """One request's quarantined input, received at ``received_at``."""
        events = []
        for item in items:
            key = quarantine_id(item.kind, item.raw)
            found = self.inputs.get(key) or self.inputs.setdefault(key, QuarantinedInput(key))
            event = found.receive(item.kind, item.raw, item.encoding, item.reason, received_at)
            if event is not None:
                events.append(event)
        return events


def _sent(status: Status) -> Sent:
    """What a report event records of how its item came, beyond the report."""
    if status.sent is None and status.raw_encoding is None:
        return NOT_SENT
    return Sent(status.sent, status.raw_encoding)
