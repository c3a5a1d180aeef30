"""What the application is asked to do and what it answers: a batch of statuses, its receipt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from tracker.domain.registration import Registration


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
    channels: dict[str, str] | None = None  # the status per channel (the XML webhook's sms, viber)
    source: str | None = None  # None: the webhook; "poll": the platform's answer to a poll
    num_parts: int | None = None  # a poll's answer with detail=1: the message's parts
    price: float | None = None  # and the price per part


class Registering(msgspec.Struct, frozen=True, gc=False):
    """One incoming registration whose ``id_sms`` names a message (POST /messages/sent,
    tracker register)."""

    id_sms: int
    registration: Registration
    raw: str | None = None  # the item's JSON text, kept when the registration is rejected
    sent: str | None = None  # the id_sms as sent when it was a JSON string ("03234")


@dataclass(frozen=True, slots=True)
class Unusable:
    """Input that names no message: kept in quarantine with the reason."""

    kind: str  # domain.quarantine.ITEM or BODY
    raw: str
    reason: str
    encoding: str = "utf-8"  # or "base64" when the bytes were not valid UTF-8


@dataclass(frozen=True, slots=True)
class Batch:
    """What one webhook request brought: its statuses and its unusable input (or what one
    registration request brought: its registrations and its unusable input).

    Its receipt time is stamped by the writer as it stores the batch (one clock, in the
    order of the log); ``received_at`` replaces the clock's reading (imports, tests), and is
    moved forward like it when the log already holds a later receipt."""

    statuses: tuple[Status, ...]
    unusable: tuple[Unusable, ...] = ()
    received_at: datetime | None = None
    registrations: tuple[Registering, ...] = ()


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one ``record`` call durably stored: every id in ``stored`` may be acknowledged."""

    stored: frozenset[int]
    outcomes: Mapping[str, int] = field(default_factory=dict)  # new reports by outcome
    duplicates: int = 0
    quarantined: int = 0
    attempts: int = 1
    # New registrations by outcome (domain.registration); the same one again is a duplicate.
    registrations: Mapping[str, int] = field(default_factory=dict)


DUPLICATE = "duplicate"  # an exact repeat: acknowledged, recorded as received again


class StoreUnavailable(Exception):
    """The event store could not commit (down, locked, or contended past the retry budget)."""


class ReceiptBehind(Exception):
    """The log's last event was received after the receipt time a group was stamped with."""


class OutcomeUnknown(StoreUnavailable):
    """Whether a batch was committed is not known (its receipt never came): it may have been.
    The answer must not say it was not; the platform's resend finds out (a repeat)."""
