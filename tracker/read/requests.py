"""The request log for people and the API: a page of requests, one whole, a message's links."""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from datetime import datetime

import msgspec
from eventsourcing.persistence import PersistenceError

from tracker.read.models import MessageHistory
from tracker.read.queries import BadCursor
from tracker.request_log import Record, RequestFilter, RequestStore

log = logging.getLogger("tracker")

IDS_LISTED = 50  # message numbers a listing shows per request (a request's page shows all)
DEFAULT_LIMIT, MAX_LIMIT = 50, 1000


class RequestSummary(msgspec.Struct, kw_only=True):
    """One request to the webhook as the request log keeps it, without its body."""

    id: int
    received_at: datetime
    answered_at: datetime
    sender: str
    token: str | None  # the token's name, never its secret
    size: int
    content_type: str | None
    format: str | None
    status: int
    acknowledged: int
    latency_ms: float
    ids: list[int]  # the message numbers it carried (in a listing: the first 50)
    ids_total: int
    note: str | None
    replay_of: int | None


class RequestPage(msgspec.Struct):
    requests: list[RequestSummary]
    next: str | None  # the cursor of the next (older) page; None: this is the last


class RequestDetail(RequestSummary, kw_only=True):
    """A request whole: its body and its answer as text when they are UTF-8, else base64."""

    body: str | None  # None: none came, or it was dropped (the note says why)
    body_encoding: str | None  # "utf-8" or "base64"
    answer: str | None
    answer_encoding: str | None


def summary(record: Record, ids_shown: int | None = IDS_LISTED) -> RequestSummary:
    return RequestSummary(
        id=record.id,
        received_at=record.received_at,
        answered_at=record.answered_at,
        sender=record.sender,
        token=record.token,
        size=record.size,
        content_type=record.content_type,
        format=record.format,
        status=record.status,
        acknowledged=record.acknowledged,
        latency_ms=record.latency_ms,
        ids=record.ids[:ids_shown] if ids_shown is not None else record.ids,
        ids_total=len(record.ids),
        note=record.note,
        replay_of=record.replay_of,
    )


def as_text(data: bytes | None) -> tuple[str | None, str | None]:
    """Bytes as (text, encoding): UTF-8 as it is, anything else (a lone surrogate's bytes,
    binary) in base64."""
    if data is None:
        return None, None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def detail(record: Record) -> RequestDetail:
    body, body_encoding = as_text(record.body)
    answer, answer_encoding = as_text(record.answer)
    return RequestDetail(
        **msgspec.structs.asdict(summary(record, None)),
        body=body,
        body_encoding=body_encoding,
        answer=answer,
        answer_encoding=answer_encoding,
    )


def cursor_of(text: str | None) -> int | None:
    """The id a page starts below, from the ``next`` of the page before."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 18):
        raise BadCursor(f"cursor: {text[:40]!r} is not a cursor this API gave (use a page's next)")
    return int(text)


def list_requests(
    store: RequestStore, where: RequestFilter, cursor: str | None, limit: int = DEFAULT_LIMIT
) -> RequestPage:
    """Newest first; the cursor pages through without a repeat or a gap."""
    records = store.page(where, cursor_of(cursor), limit)
    following = str(records[-1].id) if len(records) == limit else None
    return RequestPage([summary(r) for r in records], following)


LARGEST_ID = 2**63 - 1  # the databases' largest integer: no request has an id past it


def request_record(store: RequestStore, request_id: int) -> Record | None:
    """One record whole (None: no such request, an id past what the store can hold too)."""
    return store.get(request_id) if 0 < request_id <= LARGEST_ID else None


def request_detail(store: RequestStore, request_id: int) -> RequestDetail | None:
    record = request_record(store, request_id)
    return detail(record) if record is not None else None


def linked(history: MessageHistory | None, store: RequestStore | None) -> MessageHistory | None:
    """A history whose reports name the requests that carried them (first and last receipt),
    when there is a request log."""
    if history is None or store is None or not history.reports:
        return history
    try:
        windows = store.carrying(history.id_sms)
    except PersistenceError as e:  # a diagnostic's failure: the history without its links
        log.warning("request log unavailable, a history shown without its requests: %s", e)
        return history
    for report in history.reports:
        found = carriers(windows, report.received_at)
        if report.last_received_at != report.received_at:
            found += carriers(windows, report.last_received_at)
        report.requests = sorted(set(found))
    return history


def carriers(windows: Sequence[tuple[int, datetime, datetime]], received_at: datetime) -> list[int]:
    """The requests whose time between arrival and answer holds a report's receipt instant
    (the writer stamps it while the request waits for its receipt, on the same clock)."""
    return [i for i, start, end in windows if start <= received_at <= end]
