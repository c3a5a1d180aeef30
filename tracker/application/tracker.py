"""The event-sourced application: record a batch of reports in one transaction, read histories."""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, tzinfo
from functools import partial
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, PersistenceError
from eventsourcing.utils import Environment

from tracker.application.commands import (
    DUPLICATE,
    Batch,
    Receipt,
    ReceiptBehind,
    Status,
    StoreUnavailable,
    Unusable,
)
from tracker.application.ports import EventRecorder
from tracker.application.written import REPORTS_REMEMBERED, WrittenMessages, received_at_of
from tracker.domain.events import Envelope, ReportedAgain
from tracker.domain.ids import id_sms_of, message_id
from tracker.domain.message import NOT_SENT, Message, Sent
from tracker.domain.quarantine import QuarantinedInput, quarantine_id
from tracker.domain.status import Report
from tracker.domain.timestamps import DEFAULT_ZONE, TimeOutOfRange, parse_time, zone
from tracker.memo import Memo

log = logging.getLogger("tracker")


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
        try:
            super().__init__(env)
        except BaseException:
            # The store's connections opened before it failed (a table that could not be
            # made): closed now, not by the collector on whatever thread it runs (a pool's own
            # thread cannot join itself).
            if (factory := getattr(self, "factory", None)) is not None:
                factory.close()
            raise
        self.local_zone = zone(local_zone) if isinstance(local_zone, str) else local_zone
        # Held around each load-decide-save of a group of batches: the store may make the
        # writers of one host take turns (SQLite), so they never clash with each other.
        self.writing = writing
        self.written = WrittenMessages()
        # Statuses of one batch often share their state and second: each distinct report is
        # made once (its time parsed, its fold order computed) and remembered.
        self._reports = Memo(self._new_report, REPORTS_REMEMBERED)  # by (state, time)

    @property
    def store(self) -> EventRecorder:
        """The recorder, as the port the tracker's stores implement (``application.ports``)."""
        return self.recorder  # type: ignore[return-value]

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
        wanted.update(r.id_sms for batch in batches for r in batch.registrations)
        written = self.written
        head = written.catch_up(self.store)  # forget what other writers changed since
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
            registered: Counter[str] = Counter()
            for item in batch.registrations:
                message = messages.get(item.id_sms)
                if message is None:
                    message = messages[item.id_sms] = Message(item.id_sms)
                touched[item.id_sms] = message
                outcome = message.register(item.registration, moment, item.raw, item.sent)
                registered[DUPLICATE if outcome is None else outcome] += 1
            for message in touched.values():
                events += message.collect_events()
            events += quarantine.receive(batch.unusable, moment)
            receipts.append(
                Receipt(
                    stored=frozenset(s.id_sms for s in batch.statuses).union(
                        r.id_sms for r in batch.registrations
                    ),
                    duplicates=outcomes.pop(DUPLICATE, 0) + registered.pop(DUPLICATE, 0),
                    outcomes=dict(outcomes),
                    quarantined=len(batch.unusable),
                    attempts=attempt,
                    registrations=dict(registered),
                )
            )
        check = partial(written.not_behind, earliest)
        # The library's event store, as Application.save would use it, without save's check of
        # every event against a runtime protocol (a third of the writer's time, measured).
        recordings = self.events.put(events, check_last=check)
        written.keep(messages.values(), head, [r.notification for r in recordings])
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
        for stored in self.store.select_events_of([message_id(n) for n in numbers]):
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
            return self.store.last_notification_of(message_id(id_sms))
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
        for stored in tracker.store.select_last_events_of(list(keys)) if keys else ():
            moment = received_at_of(stored.topic, stored.state)
            self.inputs[stored.originator_id] = QuarantinedInput(
                stored.originator_id, stored.originator_version
            )
            tracker.written.saw_receipt(moment)  # a store written before one clock

    def receive(self, items: Iterable[Unusable], received_at: datetime) -> list[Envelope]:
        """One request's quarantined input, received at ``received_at``: each distinct input
        once (the requests of one group share their receipt time, so that cannot tell them)."""
        events, taken = [], set()
        for item in items:
            key = quarantine_id(item.kind, item.raw)
            if key in taken:
                continue
            taken.add(key)
            found = self.inputs.get(key) or self.inputs.setdefault(key, QuarantinedInput(key))
            events.append(
                found.receive(item.kind, item.raw, item.encoding, item.reason, received_at)
            )
        return events


def _sent(status: Status) -> Sent:
    """What a report event records of how its item came, beyond the report."""
    if (
        status.sent is None
        and status.raw_encoding is None
        and status.source is None
        and status.channels is None
        and status.num_parts is None
        and status.price is None
    ):
        return NOT_SENT
    return Sent(
        status.sent,
        status.raw_encoding,
        status.source,
        status.channels,
        status.num_parts,
        status.price,
    )
