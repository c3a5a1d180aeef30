"""What the webhook's writer keeps of the store between groups: messages in hand, its clock."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from tracker.application.commands import ReceiptBehind
from tracker.codec import UnknownTopic, decode
from tracker.domain.events import MESSAGE_EVENTS
from tracker.domain.ids import id_sms_of
from tracker.domain.message import Message

log = logging.getLogger("tracker")


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
        moment = received_at_of(topic, state)
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
        self.saw_receipt(received_at_of(notification.topic, notification.state))

    def take(self, numbers: set[int]) -> dict[int, Message]:
        """The messages among these in hand. The writer changes them in place as it decides;
        should the write fail, ``clear`` forgets them all."""
        held = self._messages
        found = ((n, held.get(n)) for n in numbers)
        return {n: message for n, message in found if message is not None}

    def keep(self, messages: Iterable[Message], head: int, stored: Sequence[Any]) -> None:
        """After a commit: keep these; our events (``stored``: their notifications, as the
        store numbered them) follow ``head`` unless others' came in between, and then those
        are read (and their messages forgotten) next time. Our last event is the mark then,
        or else a witness the log must still hold."""
        for message in messages:
            self._messages[message.id_sms] = message
            self._messages.move_to_end(message.id_sms)
        while len(self._messages) > self.size:
            self._messages.popitem(last=False)
        if not stored:
            return
        ours = _mark_of(stored[-1])
        recorded = [n.id for n in stored]
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


def received_at_of(topic: str, state: bytes) -> datetime | None:
    """The receipt time of a stored event (every event of ours has one; None for a row
    of another kind)."""
    try:
        return decode(topic, state).received_at  # type: ignore[attr-defined, no-any-return]
    except (UnknownTopic, msgspec.DecodeError):
        return None


MESSAGE_TOPICS = frozenset(event.TOPIC for event in MESSAGE_EVENTS)  # a message's events
REPORTS_REMEMBERED = 8192  # distinct (state, time) reports the writer keeps made
FORGET_ALL_AFTER = 20_000  # events by others since our last write: simpler to forget it all
