"""One recorded webhook request, a filter over them, and what the request log asks of a store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import msgspec

# Notes a record may carry (several are joined with "; ").
TRUNCATED = "truncated"  # the body went past TRACKER_MAX_BODY_BYTES: only its start is kept
BODY_DROPPED_QUEUE = "body dropped: the request log was behind"  # its queue was full
BODY_DROPPED_RETENTION = "body dropped: retention"  # TRACKER_REQUEST_LOG_KEEP or _MAX_BYTES


class Record(msgspec.Struct, kw_only=True, gc=False):
    """A request to the webhook as it came, and its answer. ``id`` is the store's (0 until
    stored); ``ids`` the message numbers it carried (none when it was refused before its body
    was read: 403, a wrong token, 413, 408)."""

    id: int = 0
    received_at: datetime
    answered_at: datetime
    sender: str
    token: str | None = None  # the token's name (TRACKER_WEBHOOK_TOKENS), never the secret
    size: int  # bytes of body that came (or that Content-Length announced, if more)
    content_type: str | None = None
    format: str | None = None  # "json" or "xml": what the body was read as (None: not read);
    #                            "registration": a POST to /messages/sent
    status: int
    acknowledged: int = 0
    latency_ms: float
    ids: list[int] = []
    note: str | None = None
    replay_of: int | None = None  # a replay (POST /requests/{id}/replay, tracker replay)
    body: bytes | None = None  # None: not kept (retention, a full queue) or none came
    answer: bytes | None = None

    @property
    def kept(self) -> int:
        """Bytes of body and answer this record keeps (what the size cap counts)."""
        return len(self.body or b"") + len(self.answer or b"")


def noted(note: str | None, more: str) -> str:
    return more if not note else f"{note}; {more}"


@dataclass(frozen=True, slots=True)
class RequestFilter:
    """Which requests a listing shows: received in [received_from, received_to), with this
    status, carrying this message."""

    received_from: datetime | None = None
    received_to: datetime | None = None
    status: int | None = None
    id_sms: int | None = None


def micros(moment: datetime) -> int:
    """An instant as the stores keep it: whole microseconds since 1970 (UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def instant(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RequestStore(Protocol):
    """Where the request log is kept (stores/sqlite/requests.py, stores/postgres/requests.py).
    Each method is called from one thread at a time per instance."""

    def insert(self, records: Sequence[Record]) -> list[int]:
        """Store these records in one transaction (each with its message numbers); their ids,
        increasing, in the same order."""

    def page(self, where: RequestFilter, before: int | None, limit: int) -> list[Record]:
        """Records matching ``where`` with ids below ``before`` (None: any), newest (highest
        id) first, at most ``limit``, without their bodies."""

    def get(self, request_id: int) -> Record | None:
        """One record whole, bodies included."""

    def carrying(self, id_sms: int) -> list[tuple[int, datetime, datetime]]:
        """(id, received_at, answered_at) of every request that carried this message."""

    def prune(self, older_than: datetime, max_bytes: int) -> int:
        """Drop the bodies of requests received before ``older_than``, then the oldest others
        until the bodies kept add up to ``max_bytes`` at most; how many were dropped."""

    def close(self) -> None: ...
