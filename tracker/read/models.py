"""The read side's answers, as msgspec Structs: what the HTTP API and `--json` print alike."""

from __future__ import annotations

from datetime import datetime

import msgspec

from tracker.domain.registration import Registration
from tracker.views.projection import Change

# A message whose reports all have states the rules do not know, or were rejected at receipt, has
# no state: ``state`` is None (null in JSON and Parquet). Where states are text (CSV, tables,
# pages), it is shown as this label, the same everywhere:
NO_KNOWN_STATE = "no known state"


class ReportRecord(msgspec.Struct, gc=False):  # no cycles: untracked by the GC
    """One stored report, as received, with what it did on arrival."""

    received_at: datetime
    id_sms: int | str  # as the platform sent it: 3234, or "3234", or "03234"
    state: str
    time: str
    instant: datetime | None  # the UTC instant of ``time``; None when blank or unparseable
    outcome: str  # applied | superseded | rejected | unknown_state
    state_after: str | None  # the message's state once this report had arrived (None: none known)
    deliveries: int  # how many times this same report was received (1: once)
    last_received_at: datetime  # its last receipt (``received_at`` is the first)
    reason: str | None = None  # why it was rejected at receipt (a value that could not be read)
    raw: str | None = None  # the item's JSON when it was not in the documented plain form; in
    # a page, its first 4,096 characters only (see ``truncated``)
    raw_encoding: str | None = None  # with raw: utf-8, or base64 when its bytes were not UTF-8
    raw_bytes: int | None = None  # with raw: the whole item's size in bytes
    truncated: bool = False  # raw is cut: GET /messages/{id}/reports/{position} has it whole
    position: int = 0  # of this report in the message's history (0: the first)
    source: str = "webhook"  # how it came: webhook (JSON or XML) or poll (tracker reconcile)
    channels: dict[str, str] | None = None  # the status per channel it gave (XML: sms, viber)
    num_parts: int | None = None  # a poll's answer: the message's parts
    price: float | None = None  # and the price per part
    # The request log's requests that carried it (its first and last receipt; docs/webhook.md).
    requests: list[int] | None = None


class RegistrationRecord(msgspec.Struct, gc=False):
    """One stored registration of a message (POST /messages/sent, tracker register), with what
    it did on arrival: registered (it stands), conflict (it differs from the one that stands:
    never applied) or rejected (a value could not be read: ``reason``)."""

    received_at: datetime
    id_sms: int | str  # as it was sent: 3234, or "03234"
    outcome: str  # registered | conflict | rejected
    before: int  # its place: the position of the first report received after it
    sent_at: datetime | None = None
    sender: str | None = None
    campaign: str | None = None
    channel: str | None = None
    parts: int | None = None
    reason: str | None = None  # why it was rejected at receipt
    raw: str | None = None  # a rejected item's text (cut in a page as a report's is)
    raw_bytes: int | None = None
    truncated: bool = False


class MessageHistory(msgspec.Struct):
    id_sms: int
    state: str | None  # the current state (as of ``as_of`` when given); None: no known state
    as_of: datetime | None  # only reports received at or before this instant, when given
    total: int  # distinct reports in all (as of ``as_of``)
    start: int  # the position of the first report of this page among them (0: the first)
    reports: list[ReportRecord]  # a page of them, in arrival order
    next: str | None = None  # pass as ?cursor= for the next page; None on the last page
    # The registration that stands (as of ``as_of``), and the registrations received among this
    # page's reports (each before the report at its ``before``; the last page: those after all).
    registration: RegistrationRecord | None = None
    registrations: list[RegistrationRecord] = []  # at most the page's limit of them
    registrations_more: int = 0  # those in this page's place past the limit, not listed


class ProjectionLag(msgspec.Struct):
    position: int  # the last event notification the views have taken into account
    head: int  # the last event notification in the store
    lag: int  # events stored but not yet in the views


class Readiness(msgspec.Struct):
    status: str
    projection: ProjectionLag


class MessageSummary(msgspec.Struct):
    """A row of the messages view."""

    id_sms: int
    state: str | None
    time: str | None
    instant: datetime | None
    final: bool
    conflict: bool  # a report follows the final state (the fold rejects it)
    overdue: bool  # not final longer than TRACKER_OVERDUE_AFTER after its first receipt, by the
    # reader's clock at the time of reading (never stored)
    reports: int
    first_received_at: datetime
    last_received_at: datetime
    channels: dict[str, str] | None = None  # each channel's latest status (None: none given)
    registration: Registration | None = None  # the registration that stands (None: none)
    registration_conflicts: int = 0  # registrations received that differed from it


class MessagePage(msgspec.Struct):
    messages: list[MessageSummary]
    next: str | None  # pass as ?cursor= for the next page; None on the last page


class StateCount(msgspec.Struct):
    state: str | None  # None: no known state
    final: bool
    messages: int


class DeliveryPercentiles(msgspec.Struct):
    """Seconds from a message's first report to its delivery (see docs/views.md)."""

    deliveries: int
    p50: float | None
    p90: float | None
    p99: float | None


class DailyDelivery(DeliveryPercentiles):
    day: str  # UTC date of delivery


class Stats(msgspec.Struct):
    messages: int
    final: int
    final_share: float  # of all messages
    conflicts: int  # messages with a report after their final state
    overdue: int  # messages not final overdue_after_seconds after their first receipt (now)
    overdue_after_seconds: float  # TRACKER_OVERDUE_AFTER, the threshold counted with
    states: list[StateCount]
    delivery: DeliveryPercentiles
    per_day: list[DailyDelivery]  # the most recent days with deliveries, oldest first


class QuarantinedItem(msgspec.Struct):
    """Input that named no message, kept as received (base64 when it was not UTF-8)."""

    id: str  # GET /quarantine/{id} gives the item whole
    kind: str  # item (one element of a batch), body (a whole request body) or items (the rest
    # of a body past the per-body bound)
    raw: str  # in lists, the first RAW_CUT characters only: see ``truncated``
    raw_bytes: int  # the whole item's size in bytes (of its UTF-8 or base64 text)
    truncated: bool  # ``raw`` is cut; the item's own address has it whole
    encoding: str  # utf-8 or base64
    reason: str  # why it named no message (the latest receipt's)
    receipts: int  # how many times it arrived
    first_received_at: datetime
    last_received_at: datetime


class Quarantine(msgspec.Struct):
    total: int  # distinct quarantined items
    items: list[QuarantinedItem]  # the most recently received first
    next: str | None = None  # pass as ?cursor= for the next page; None on the last page


class RebuildStatus(msgspec.Struct, omit_defaults=True):
    """The last rebuild started through the API, in this server process."""

    state: str  # idle, running, done or failed
    started_at: datetime | None = None
    finished_at: datetime | None = None
    position: int = 0
    head: int = 0
    events: int = 0
    checksums: dict[str, str] = {}
    error: str | None = None


class ChangePage(msgspec.Struct):
    """A page of the change feed (GET /changes, `tracker changes`)."""

    changes: list[Change]  # in position order
    next: int  # pass as ?after= for the next page (the last position here, else ``after``)
    head: int  # the highest position in the change view as this page was read
    complete_from: int  # every change after this position is in the view (0: every change)


class DayPoint(msgspec.Struct):
    """One sending day of a group (GET /stats?by=, a sparkline's point)."""

    day: str  # YYYY-MM-DD (UTC)
    messages: int
    delivered: int
    known: int
    delivery_rate: float | None


class GroupStats(msgspec.Struct):
    """The messages of one group of a breakdown (definitions: docs/views.md)."""

    key: str  # sender / campaign / channel ("" = not given) or the day
    messages: int
    states: dict[str, int]  # messages by current state; "" = no known state; "registered"
    delivered: int
    known: int
    delivery_rate: float | None
    pending: int
    pending_share: float
    deliveries: int  # messages with a delivery time
    p50: float | None  # seconds from sending to delivery (within 1% of the exact nearest rank)
    p95: float | None
    p99: float | None
    daily: list[DayPoint] = []  # the days of the range it had messages; empty for by=day


class Breakdown(msgspec.Struct):
    """GET /stats?by=: the messages of a range of sending days, grouped."""

    by: str  # sender | campaign | channel | day
    from_day: str | None
    to_day: str | None
    total: GroupStats  # all messages of the range
    groups: list[GroupStats]  # by messages descending, then key (by=day: by day ascending)
