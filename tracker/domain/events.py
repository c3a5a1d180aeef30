"""The events the tracker stores: one versioned msgspec struct per kind, each its stored shape.

A struct's fields are what the store holds, in order (``stores.codec`` writes them as a
MessagePack array: no keys, no wrappers; instants as MessagePack timestamps, integer seconds
and nanoseconds). Its ``TOPIC`` is short and stable: it names the kind and its version in
every stored row, and never changes. A field may only be added at the end, with a default (an
event stored before it has the default); any other change is a new struct with the next
version in its topic, and the codec keeps decoding the old one.

The aggregate an event belongs to (a message, a quarantined input) and its version there are
the ``Envelope``'s, not the event's: the store keeps them in columns of their own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import msgspec


class Event(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Base of every stored event."""

    TOPIC: ClassVar[str]


class Reported(Event):
    """A distinct status report for a message, received at ``received_at``, and what it did
    (``outcome``, decided by ``Message.receive`` at receipt: replaying never decides again)."""

    TOPIC: ClassVar[str] = "r1"

    state: str  # as sent
    time: str  # as sent
    instant: datetime | None  # the time's UTC instant; None: blank, unreadable, or out of range
    received_at: datetime
    outcome: str  # domain.status.OUTCOMES
    raw: str | None = None  # the item as sent, when it was not the plain documented form
    id_sent: str | None = None  # the id_sms as sent, when it was a JSON string ("03234")
    reason: str | None = None  # why it was rejected at receipt (a value could not be read)
    raw_encoding: str | None = None  # "base64" when the raw item's bytes were not UTF-8
    source: str | None = None  # how it came: None, the webhook; "poll", the platform's answer
    channels: dict[str, str] | None = None  # the status per channel (XML: sms, viber)
    num_parts: int | None = None  # parts of the message (a poll with detail=1)
    price: float | None = None  # price per part (a poll with detail=1)


class ReportedAgain(Event):
    """A report the message already holds, received again ``times`` times in one request
    (the platform resends what it saw no acknowledgement for). Names the report by its
    identity: state, time and, for a report rejected at receipt, the reason; keeps what this
    delivery said beyond it (a poll's answer repeating a webhook report: its parts and price;
    an XML repeat: its channels), so nothing the platform said is lost."""

    TOPIC: ClassVar[str] = "a1"

    state: str
    time: str
    received_at: datetime
    times: int = 1
    reason: str | None = None
    source: str | None = None  # as Reported's
    channels: dict[str, str] | None = None  # as Reported's (added 2026-12-06: older rows
    num_parts: int | None = None  # end before them and read as None)
    price: float | None = None
    instant: datetime | None = None  # the report's, kept with channels: the views order by it


class Quarantined(Event):
    """Input that names no message (an item, a body, a batch's overflow of such items),
    received for the first time, with why it was quarantined."""

    TOPIC: ClassVar[str] = "q1"

    kind: str  # domain.quarantine.ITEM, ITEMS or BODY
    raw: str
    reason: str
    received_at: datetime
    encoding: str = "utf-8"  # or "base64" when the bytes were not valid UTF-8


class QuarantinedAgain(Event):
    """The same quarantined input received again."""

    TOPIC: ClassVar[str] = "qa1"

    reason: str
    received_at: datetime


class Registered(Event):
    """A registration of the message (domain.registration), received at ``received_at``, and
    what it did (``outcome``: registered, conflict or rejected, decided at receipt). The same
    registration received again is not recorded."""

    TOPIC: ClassVar[str] = "g1"

    received_at: datetime
    outcome: str  # domain.registration.REGISTRATION_OUTCOMES
    sent_at: datetime | None = None  # as domain.registration.Registration's fields
    sender: str | None = None
    campaign: str | None = None
    channel: str | None = None
    parts: int | None = None
    reason: str | None = None
    raw: str | None = None  # the item as sent, when it was rejected (a value could not be read)
    id_sent: str | None = None  # the id_sms as sent, when it was a JSON string ("03234")


EVENTS: tuple[type[Event], ...] = (
    Reported, ReportedAgain, Quarantined, QuarantinedAgain, Registered
)  # fmt: skip
MESSAGE_EVENTS: tuple[type[Event], ...] = (Reported, ReportedAgain, Registered)
QUARANTINE_EVENTS: tuple[type[Event], ...] = (Quarantined, QuarantinedAgain)


class Envelope(msgspec.Struct, frozen=True, gc=False):
    """An event in its place: the aggregate it belongs to and its version there (the library's
    ``originator_id`` and ``originator_version``, which its recorders store in columns)."""

    originator_id: UUID
    originator_version: int
    event: Event


TOLD = ("channels", "num_parts", "price")  # what a delivery may say beyond its report


def told(event: Reported | ReportedAgain) -> dict[str, Any] | None:
    """What a delivery said beyond its report (channels, parts, price), the fields it gave."""
    given = {k: v for k in TOLD if (v := getattr(event, k)) is not None}
    return given or None
