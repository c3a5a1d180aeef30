"""What each stored report does to the views: the message row it changes, the delivery it records.

The message row keeps only the current report, not all reports: the fold is incremental,
fold(S + [r]) == prevails(fold(S), r) for any set S (a property test states it). So one row read
per message is all a page of events needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

import msgspec

from tracker.domain.registration import CONFLICT, Registration
from tracker.domain.status import Report, fold_step

DELIVERED_STATES = frozenset({"deliver", "read"})
NO_STATE = ""  # state_counts' key for messages that have only reports of unknown state
REGISTERED = "registered"  # the state of a registered message with no known state (never a
# platform state: unknown platform states never become the current state)
REGISTRATION = "registration"  # a change's source when a registration made it
NO_REPORT = Report("", "")  # a registration fact's report (never read)


# Fact, MessageRow and Delivery are msgspec structs, the cheapest Python objects to make (a
# named tuple or a dataclass costs three to four times as much, measured: a rebuild makes
# hundreds of thousands a second), and left out of the cyclic collector (they hold no cycles).


class Fact(msgspec.Struct, gc=False):
    """One stored report, as the projection (and an export) needs it."""

    id_sms: int
    report: Report
    received_at: datetime
    outcome: str = ""
    raw: str | None = None
    id_sent: str | None = None  # the id_sms as sent, when it was a JSON string
    raw_encoding: str | None = None  # "base64" when raw holds bytes that were not UTF-8
    source: str | None = None  # None: the webhook; "poll": the platform's answer to a poll
    channels: dict[str, str] | None = None  # the status per channel (XML: sms, viber)
    num_parts: int | None = None  # a poll's parts and price per part
    price: float | None = None
    again: bool = False  # a repeat of a report the message holds, read for its channels only
    position: int = 0  # the event's notification id (0: not read from the log)
    # A registration that stands (outcome registered) or a conflict (``report`` is then
    # ``NO_REPORT``, unused); None for every report (their hot path never looks further).
    registration: Registration | None = None

    @property
    def state(self) -> str:
        return self.report.state

    @property
    def time(self) -> str:
        return self.report.time

    @property
    def instant(self) -> datetime | None:
        return self.report.instant


class Change(msgspec.Struct, frozen=True, gc=False):
    """One change of a message's state, made by the stored report at ``position``."""

    position: int  # the notification id of the event that made the change (log order)
    id_sms: int
    previous: str | None  # the state before (None: the message had no known state)
    state: str  # the state after
    final: bool  # whether the state after is final
    time: str  # the causing report's time, as sent (a registration's: its sent_at, or "")
    instant: datetime | None  # its UTC instant (None: unreadable)
    received_at: datetime  # when that report was received (the writer's clock)
    source: str | None  # None: the webhook; "poll": a poll's answer; "registration"


def change_of(previous: str | None, row: MessageRow | None, fact: Fact) -> Change | None:
    """The change ``fact`` made, ``previous`` being the message's state before it and ``row``
    its row after (``project``'s); None when the state stayed as it was (a repeat, a rejected
    report, one of a state the rules do not know, or one the fold ranks below the current).
    A registration that makes a message "registered" (it had no state) is a change too."""
    if fact.registration is not None:
        return _registered(previous, row, fact)
    if row is None or fact.again or (current := row.current) is None:
        return None
    if current.state == previous:
        return None
    report = fact.report  # a state that moved was set by this report: the fold keeps one of two
    return Change(
        fact.position,
        fact.id_sms,
        previous,
        current.state,
        current.final,
        report.time,
        report.instant,
        fact.received_at,
        fact.source,
    )


def _registered(previous: str | None, row: MessageRow | None, fact: Fact) -> Change | None:
    if previous is not None or row is None or row.state != REGISTERED:
        return None
    sent_at = row.registration.sent_at  # type: ignore[union-attr]
    return Change(
        fact.position,
        fact.id_sms,
        None,
        REGISTERED,
        False,
        "" if sent_at is None else sent_at.astimezone(UTC).isoformat(timespec="microseconds"),
        sent_at,
        fact.received_at,
        REGISTRATION,
    )


@dataclass(slots=True)
class QuarantineFact:
    """One receipt of quarantined input (the first one carries the input itself)."""

    quarantine_id: str
    received_at: datetime
    reason: str
    kind: str | None = None  # these three only on the first receipt
    raw: str | None = None
    encoding: str | None = None


class MessageRow(msgspec.Struct, gc=False):
    id_sms: int
    current: Report | None  # sets state, time, instant, final
    reports: int
    first_received_at: datetime
    last_received_at: datetime
    latest: Report | None  # the last known report in fold order: a conflict if it follows a final
    delivered_at: datetime | None  # when the state first became deliver or read (our clock)
    # Each channel's latest status: from the last report in fold order that gave one (read
    # at receipt, a report rejected at receipt gives none), with that report; None: none did.
    channels: dict[str, tuple[str, Report]] | None = None
    registration: Registration | None = None  # the one that stands (its reason is None)
    registered_at: datetime | None = None  # its receipt
    registration_conflicts: int = 0  # registrations received that differ from it

    @property
    def state(self) -> str | None:
        """The current state; "registered" when none is known and a registration stands."""
        if (current := self.current) is not None:
            return current.state
        return REGISTERED if self.registration is not None else None

    @property
    def final(self) -> bool:
        return bool(self.current and self.current.final)

    @property
    def channel_states(self) -> dict[str, str] | None:
        """Each channel's latest status, by channel name (None: no report gave one)."""
        if not self.channels:
            return None
        return {name: held[0] for name, held in sorted(self.channels.items())}

    @property
    def conflict(self) -> bool:
        """A report the fold rejects exists: one ordered after the final state."""
        return self.final and self.latest != self.current


class Delivery(msgspec.Struct, frozen=True, gc=False):
    id_sms: int
    first_received_at: datetime
    delivered_at: datetime

    @property
    def seconds(self) -> float:
        return (self.delivered_at - self.first_received_at).total_seconds()


def project(row: MessageRow | None, fact: Fact) -> tuple[MessageRow, Delivery | None]:
    """The message row after one more report (``row`` itself, changed in place, or a new row
    for the message's first report), and the delivery it records, if any. A repeat of a report
    the message holds (``fact.again``) brings only the channels it gave."""
    received_at, report = fact.received_at, fact.report
    if fact.registration is not None:
        return _register(row, fact), None
    if fact.again:  # a report held already: only its channels, if it gave some, are news
        if row is not None and fact.channels and report.reason is None:
            _take_channels(row, fact.channels, report, again=True)
        return row, None  # type: ignore[return-value]
    if row is None:
        row = MessageRow(fact.id_sms, None, 0, received_at, received_at, None, None)
    row.reports += 1
    row.last_received_at = received_at
    if fact.channels and report.reason is None:
        _take_channels(row, fact.channels, report)
    if report.rank is not None:  # a known state
        current = row.current = fold_step(row.current, report)
        latest = row.latest
        if latest is None or report.order > latest.order:
            row.latest = report
        if row.delivered_at is None and current.state in DELIVERED_STATES:  # type: ignore[union-attr]
            row.delivered_at = received_at
            return row, Delivery(row.id_sms, row.first_received_at, received_at)
    return row, None


def _register(row: MessageRow | None, fact: Fact) -> MessageRow:
    """The row with the registration that stands, or one more conflict (a rejected one never
    reaches the views)."""
    if row is None:
        row = MessageRow(fact.id_sms, None, 0, fact.received_at, fact.received_at, None, None)
    if fact.outcome == CONFLICT:
        row.registration_conflicts += 1
    elif row.registration is None:
        row.registration = fact.registration
        row.registered_at = fact.received_at
    return row


def _take_channels(
    row: MessageRow, channels: dict[str, str], report: Report, again: bool = False
) -> None:
    """Each channel's status from the report latest in fold order (then by the status's text:
    whatever the order reports arrive in, the same one is kept). A report received again says
    its channels anew: the latest delivery of the latest report gives them."""
    held = row.channels if row.channels is not None else {}
    for name, state in channels.items():
        before = held.get(name)
        if (
            before is None
            or (report.order, state) > (before[1].order, before[0])
            or (again and report.order == before[1].order)
        ):
            held[name] = (state, report)
    row.channels = held


def count_key(row: MessageRow | None) -> tuple[str, bool] | None:
    """The state_counts bucket a message row falls in (None before the message exists)."""
    if row is None:
        return None
    return (row.state or NO_STATE, row.final)


# The breakdowns (views/breakdown.py): a message counts by its sending day, each dimension of
# its registration, its state; its delivery time in a log-bucketed histogram (DDSketch-style,
# relative accuracy 1%: a bucket's value is within 1% of every value it holds).
DIMENSIONS = ("sender", "campaign", "channel")
GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)


def delivery_bucket(seconds: float) -> int:
    """The histogram bucket of a delivery time: ceil(log_gamma(milliseconds)), -1 for < 1 ms."""
    return -1 if seconds < 0.001 else math.ceil(math.log(seconds * 1000) / _LOG_GAMMA)


def bucket_value(bucket: int) -> float:
    """The seconds a bucket stands for (0 for bucket -1)."""
    return 0.0 if bucket < 0 else 2 * GAMMA**bucket / (GAMMA + 1) / 1000


def sent_at(row: MessageRow) -> datetime:
    """The sending time: the registration's sent_at if given, else the first receipt."""
    return _sent_at(row.registration, row.first_received_at)


def _sent_at(registration: Registration | None, first_received_at: datetime) -> datetime:
    if registration is not None and registration.sent_at is not None:
        return registration.sent_at
    return first_received_at


def _day(moment: datetime) -> str:
    ordinal = (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).toordinal()
    if (day := _DAYS.get(ordinal)) is None:
        if len(_DAYS) >= DAYS_KEPT:  # a client's sent_at may name any day of 3.65 million
            _DAYS.clear()
        day = _DAYS[ordinal] = date.fromordinal(ordinal).isoformat()
    return day


DAYS_KEPT = 4096  # day texts cached at most (over 11 years of days)
_DAYS: dict[int, str] = {}  # day texts by ordinal


def sending_day(row: MessageRow) -> str:
    """The UTC date (YYYY-MM-DD) of the sending time."""
    return _day(sent_at(row))


def _bucket(delivered_at: datetime | None, sent: datetime) -> int | None:
    if delivered_at is None:
        return None
    return delivery_bucket(max(0.0, (delivered_at - sent).total_seconds()))


def row_bucket(row: MessageRow) -> int | None:
    """The histogram bucket of the message's delivery time (None: not delivered)."""
    return _bucket(row.delivered_at, sent_at(row))


def group_values(row: MessageRow) -> tuple[str, str, str]:
    """(sender, campaign, channel) of the registration that stands ("" when not given)."""
    r = row.registration
    return ("", "", "") if r is None else (r.sender or "", r.campaign or "", r.channel or "")


Counted = tuple  # what a row's breakdown keys depend on (``counted``)


def counted(row: MessageRow | None) -> Counted:
    """What decides the breakdown rows a message counts in (cheap: compared before the keys
    are made, which most reports change: see ``breakdown_keys``)."""
    if row is None:
        return ()
    return (row.state, row.final, row.delivered_at, row.registration, row.first_received_at)


def keys_of(what: Counted) -> tuple[tuple, ...]:
    """The breakdown rows a message counts in (``counted``'s values): (dimension, value, day,
    state, final) for each dimension, then (dimension, value, day, bucket) for each when it
    was delivered."""
    if not what:
        return ()
    state, final, delivered_at, r, first = what
    sent = _sent_at(r, first)
    day = _day(sent)
    values = ("", "", "") if r is None else (r.sender or "", r.campaign or "", r.channel or "")
    state = state or NO_STATE
    keys = [(d, v, day, state, final) for d, v in zip(DIMENSIONS, values, strict=True)]
    if (bucket := _bucket(delivered_at, sent)) is not None:
        keys += [(d, v, day, bucket) for d, v in zip(DIMENSIONS, values, strict=True)]
    return tuple(keys)


def breakdown_keys(row: MessageRow | None) -> tuple[tuple, ...]:
    """The breakdown rows a message counts in (see ``keys_of``)."""
    return keys_of(counted(row))
