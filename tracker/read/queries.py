"""The questions analysts and auditors ask, answered from the views and the event store.

Synchronous and store-bound: the HTTP API runs them in worker threads, the CLI directly.
"""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tracker.application import Tracker
from tracker.domain.events import Registered, Reported, ReportedAgain, told
from tracker.domain.ids import message_number
from tracker.domain.status import RANKS, Report, identity_of, is_known, states_after
from tracker.read.breakdown import breakdown as breakdown
from tracker.read.errors import BadFilter as BadFilter
from tracker.read.errors import BreakdownIncomplete as BreakdownIncomplete
from tracker.read.models import (
    DailyDelivery,
    DeliveryPercentiles,
    MessageHistory,
    MessagePage,
    MessageSummary,
    ProjectionLag,
    Quarantine,
    QuarantinedItem,
    Readiness,
    ReportRecord,
    StateCount,
    Stats,
)
from tracker.read.registrations import on_page, raw_fields
from tracker.views.log import message_entries, registration_fact
from tracker.views.projection import REGISTERED, Fact, MessageRow, project
from tracker.views.projector import Projector
from tracker.views.store import ALL, MessageFilter, ViewStore

QUANTILES = (0.50, 0.90, 0.99)
RAW_CUT = 4096  # characters of a raw item (quarantined, or a report's) shown in lists
OVERDUE_AFTER = timedelta(hours=72)  # TRACKER_OVERDUE_AFTER's default (Settings.overdue_age)


class BadCursor(ValueError):
    """A cursor this API did not give out."""


STATES = tuple(sorted(RANKS, key=lambda s: (RANKS[s], s)))  # the platform's, in rank order


def state_filter(text: str | None, none_known: str = "") -> str | None:
    """The state to filter messages on: None for any, one the platform sends, or '' for the
    messages with no known state yet, which the caller's users name ``none_known`` ('' in the
    API and the CLI, '-' in the console's form). Anything else is a BadFilter listing them."""
    if text is None or is_known(text) or text == REGISTERED:
        return text
    if text == none_known:
        return ""
    raise BadFilter(
        f"state: {text[:40]!r} is not a state; known states are {', '.join(STATES)}, "
        f"{REGISTERED!r} (registered, no state known yet), or "
        f"{none_known!r} for messages with no known state yet"
    )


def utc_instant(name: str, text: str, example: str) -> datetime:
    """An ISO 8601 date or date-time as the UTC instant it names (UTC if naive); anything else
    (a bare number, say, or an instant past the calendar's ends in UTC) is a BadFilter naming
    ``name`` and showing ``example``."""
    try:
        return utc(datetime.fromisoformat(text))  # type: ignore[return-value]
    except ValueError:
        problem = f"is not {example}"
    except OverflowError:
        problem = "is outside the years 1 to 9999 in UTC"
    raise BadFilter(f"{name}: {text[:40]!r} {problem}")


def utc(moment: datetime | None) -> datetime | None:
    """The instant in UTC, which answers write with Z (a naive instant is read as UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


WEBHOOK = "webhook"  # a report's source when it came by the webhook (stored as none)
HISTORY_PAGE = 1000  # reports a page of a history holds unless asked otherwise
HISTORY_PAGE_MAX = 10_000


def history(
    tracker: Tracker,
    id_sms: int,
    as_of: datetime | None = None,
    *,
    cursor: str | None = None,
    limit: int | None = HISTORY_PAGE,
    cut: int | None = RAW_CUT,
    start: int | None = None,
) -> MessageHistory | None:
    """A page of a message's reports in arrival order, each with the state it left and how
    many times it was received, and its registrations in their place, from the event store
    itself. A history only grows at its end, so a page's cursor (its position) never repeats or
    skips a report. ``limit=None``: all. Each raw item is cut to ``cut`` characters (None:
    whole); ``start`` begins the page at a position rather than at a cursor's."""
    as_of = utc(as_of)
    start = _history_start(cursor, id_sms) if start is None else start
    reports: list[tuple[Reported, Report, datetime]] = []
    deliveries: list[int] = []
    last_received: list[datetime] = []
    position: dict[tuple[str, ...], int] = {}
    said: dict[int, dict[str, Any]] = {}  # beyond a report: each field (and channel) as last given
    registered: list[tuple[Registered, int]] = []  # each with the reports received before it
    for entry in message_entries(tracker, id_sms):
        received_at = entry.received_at
        if as_of is not None and received_at > as_of:
            continue  # (a store written before one receipt clock may hold them unordered)
        if type(entry) is Registered:
            registered.append((entry, len(reports)))
            continue
        if type(entry) is ReportedAgain:
            if (n := position.get(identity_of(entry.state, entry.time, entry.reason))) is not None:
                deliveries[n] += entry.times
                last_received[n] = max(last_received[n], received_at)
                if (given := told(entry)) is not None:
                    held = said.setdefault(n, told(reports[n][0]) or {})
                    channels = {**held.get("channels", {}), **given.get("channels", {})}
                    held.update(given, **({"channels": channels} if channels else {}))
            continue
        report = _report(entry)
        position[report.identity] = len(reports)
        reports.append((entry, report, received_at))
        deliveries.append(1)
        last_received.append(received_at)
    if not reports and not registered:
        return None
    after = states_after(report for _, report, _ in reports)
    end = len(reports) if limit is None else min(len(reports), start + limit)
    return MessageHistory(
        id_sms=id_sms,
        state=after[-1].state if after and after[-1] else None,
        as_of=as_of,
        total=len(reports),
        start=start,
        reports=[
            ReportRecord(
                received_at=received_at,
                id_sms=id_sms if e.id_sent is None else e.id_sent,
                state=e.state,
                time=e.time,
                instant=report.instant,
                outcome=e.outcome,
                state_after=a.state if a else None,
                deliveries=deliveries[n],
                last_received_at=last_received[n],
                reason=e.reason,
                raw_encoding=None if e.raw is None else e.raw_encoding or "utf-8",
                **raw_fields(e.raw, cut),
                position=n,
                **(said.get(n) or told(e) or {}),  # said[n] began as told(e)
                source=e.source or WEBHOOK,
            )
            for n, (e, report, received_at), a in zip(
                range(start, end), reports[start:end], after[start:end], strict=True
            )
        ],
        next=_encode("h1", f"{id_sms}:{end}") if end < len(reports) else None,
        **on_page(registered, id_sms, (start, end, len(reports)), cut, limit),
    )


def _report(event: Reported | ReportedAgain) -> Report:
    """The report a stored report event carries (a repeat's instant: None without channels)."""
    return Report(event.state, event.time, event.instant, event.reason)


def report_at(tracker: Tracker, id_sms: int, position: int) -> ReportRecord | None:
    """The report at this position of a message's history (0: the first), its raw item whole;
    None when there is none there."""
    if position < 0:
        return None
    found = history(tracker, id_sms, start=position, limit=1, cut=None)
    return found.reports[0] if found is not None and found.reports else None


def _history_start(cursor: str | None, id_sms: int) -> int:
    """The position a history cursor continues from (of this message's history only)."""
    if not cursor:
        return 0
    number, _, start = _decode("h1", cursor).partition(":")
    if number != str(id_sms) or not start.isdigit() or not start.isascii() or len(start) > 18:
        raise BadCursor(CURSOR_HELP)
    return int(start)


def list_messages(
    views: ViewStore,
    chosen: MessageFilter = ALL,
    *,
    cursor: str | None = None,
    limit: int = 100,
    now: datetime | None = None,
    overdue_after: timedelta = OVERDUE_AFTER,
) -> MessagePage:
    """A page of the ``chosen`` messages in id order; ``next`` continues it without repeats or
    gaps. Overdue (``chosen.overdue``, each message's ``overdue``) is as of ``now`` (the
    reader's clock, the current time when None) for this ``overdue_after``."""
    cut = overdue_cut(now, overdue_after)
    chosen = replace(chosen, received_from=utc(chosen.received_from),
                     received_to=utc(chosen.received_to), overdue_before=cut)  # fmt: skip
    rows = views.list_messages(
        chosen,
        after=_after(cursor),
        limit=limit + 1,  # one more: a next page only when there is one
    )
    return MessagePage(
        messages=[_summary(r, cut) for r in rows[:limit]],
        next=_cursor(rows[limit - 1].id_sms) if len(rows) > limit else None,
    )


def message(
    tracker: Tracker,
    views: ViewStore,
    id_sms: int,
    *,
    now: datetime | None = None,
    overdue_after: timedelta = OVERDUE_AFTER,
) -> MessageSummary | None:
    """A message as the list shows it, never behind an acknowledgement: the messages view's
    row once the views have taken in the message's last event, else the message's events
    folded here as the projection folds them (read your writes: the view may lag a moment).
    None when nothing was ever received for it. Overdue as ``list_messages`` says."""
    cut = overdue_cut(now, overdue_after)
    last = tracker.last_notification(id_sms)  # first: the views' position only moves forward
    if last is None:
        return None
    if views.position() >= last and (row := views.message(id_sms)) is not None:
        return _summary(row, cut)
    folded: MessageRow | None = None
    for e in message_entries(tracker, id_sms):
        if type(e) is Registered:
            if (taken := registration_fact(id_sms, e)) is not None:
                folded, _ = project(folded, taken)
            continue
        again = type(e) is ReportedAgain  # of a report held: news only when it gave channels
        if not again or (e.channels and folded is not None):
            fact = Fact(id_sms, _report(e), e.received_at, channels=e.channels, again=again)
            folded, _ = project(folded, fact)
    return _summary(folded, cut) if folded is not None else None


def overdue_cut(now: datetime | None, overdue_after: timedelta) -> datetime:
    """The instant before which a message first received and still not final is overdue, by
    the reader's clock ``now`` (the current time when None): overdue is derived when read,
    never stored, so the views of one history are the same whenever they are rebuilt."""
    return (utc(now) or datetime.now(UTC)) - overdue_after


def _summary(row: MessageRow, overdue_before: datetime) -> MessageSummary:
    current = row.current
    return MessageSummary(
        id_sms=row.id_sms,
        state=row.state,
        time=current.time if current else None,
        instant=current.instant if current else None,
        final=row.final,
        conflict=row.conflict,
        overdue=not row.final and row.first_received_at < overdue_before,
        reports=row.reports,
        first_received_at=row.first_received_at,
        last_received_at=row.last_received_at,
        channels=row.channel_states,
        registration=row.registration,
        registration_conflicts=row.registration_conflicts,
    )


def stats(
    views: ViewStore,
    days: int = 31,
    *,
    now: datetime | None = None,
    overdue_after: timedelta = OVERDUE_AFTER,
) -> Stats:
    """Overdue messages are counted as of ``now`` (the current time when None)."""
    counts = views.state_counts()
    (total, overall), daily = views.delivery_percentiles(QUANTILES, days)
    messages = sum(n for _, _, n in counts)
    final = sum(n for _, is_final, n in counts if is_final)
    return Stats(
        messages=messages,
        final=final,
        final_share=final / messages if messages else 0.0,
        conflicts=views.conflicts(),
        overdue=views.count_overdue(overdue_cut(now, overdue_after)),
        overdue_after_seconds=overdue_after.total_seconds(),
        states=[StateCount(state or None, f, n) for state, f, n in counts],
        delivery=DeliveryPercentiles(total, *(overall or [None] * len(QUANTILES))),
        per_day=[DailyDelivery(n, *values, day=day) for day, n, values in daily],
    )


def quarantine(
    views: ViewStore, limit: int = 100, cursor: str | None = None, cut: int | None = RAW_CUT
) -> Quarantine:
    """A page of the quarantine, the most recently received first, each raw item cut to ``cut``
    characters. An item received again while one pages moves to the front (it is not repeated
    further on, nor seen again unless one starts over)."""
    total, items = views.list_quarantine(limit + 1, _quarantine_after(cursor), cut)
    last = items[limit - 1] if len(items) > limit else None
    items = items[:limit]
    return Quarantine(
        total=total,
        items=[_quarantined(i, cut) for i in items],
        next=_encode("q1", f"{last['last_received_at']}|{last['quarantine_id']}") if last else None,
    )


def quarantined_item(views: ViewStore, item_id: str) -> QuarantinedItem | None:
    """One quarantined item, its raw text whole."""
    if not QUARANTINE_ID.fullmatch(item_id):
        return None
    found = views.quarantined(item_id)
    return _quarantined(found, None) if found else None


QUARANTINE_ID = re.compile(r"[0-9a-f]{32}")


def _quarantined(i: dict, cut: int | None) -> QuarantinedItem:
    return QuarantinedItem(
        id=i["quarantine_id"],
        kind=i["kind"],
        raw=i["raw"],
        raw_bytes=i["raw_bytes"],
        truncated=i["raw_bytes"] > len(i["raw"].encode("utf-8", "surrogatepass")),
        encoding=i["encoding"],
        reason=i["reason"],
        receipts=i["receipts"],
        first_received_at=datetime.fromisoformat(i["first_received_at"]),
        last_received_at=datetime.fromisoformat(i["last_received_at"]),
    )


def _quarantine_after(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    value = _decode("q1", cursor)
    at, _, item_id = (value or "").partition("|")
    try:  # exactly as the views store a receipt time (UTC, +00:00), nothing else
        exact = datetime.fromisoformat(at).isoformat() == at and at.endswith("+00:00")
    except ValueError:
        exact = False
    if not exact or not QUARANTINE_ID.fullmatch(item_id):
        raise BadCursor(CURSOR_HELP)
    return at, item_id


def readiness(projector: Projector) -> Readiness:
    position, head = projector.lag()
    return Readiness(
        status="ready",
        projection=ProjectionLag(position=position, head=head, lag=max(0, head - position)),
    )


CURSOR_HELP = "cursor: not one this API gave out; start without it"


def _encode(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode()


def _decode(kind: str, cursor: str) -> str:
    """The value of a cursor of this kind; any other text is a BadCursor."""
    try:
        found, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise BadCursor(CURSOR_HELP) from None
    if found != kind:
        raise BadCursor(CURSOR_HELP)
    return value


def _cursor(id_sms: int) -> str:
    return _encode("v1", str(id_sms))


def _after(cursor: str | None) -> int:
    if not cursor:  # none, or an empty ?cursor=: the first page
        return -1
    if (number := message_number(_decode("v1", cursor))) is not None:
        return number
    raise BadCursor(CURSOR_HELP)
