"""How each configured endpoint's deliveries stand, for GET /forwarding, the console and
/metrics: its durable row read with the change feed's head."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from tracker.forwarding.delivery import endpoint_key, shown
from tracker.forwarding.state import ForwardingState


class EndpointStatus(msgspec.Struct, kw_only=True):
    """One endpoint of TRACKER_FORWARD_URL, in the order given there."""

    index: int  # 1, 2, ...: its place in TRACKER_FORWARD_URL (the metrics' label)
    endpoint: str  # scheme, host, port and path: no credentials, the query shown as ?...
    started: bool  # false until its forwarder first ran
    position: int  # every change up to this position was delivered (a 2xx came)
    head: int  # the change feed's last position
    behind: int  # head - position, in log positions (0: caught up)
    pending: int | None  # the last position of the batch in flight, if one is
    attempts: int
    failures: int  # attempts that got no 2xx (never skipped: retried until one comes)
    failing: int  # failures since the last delivery
    last_status: int | None  # the last HTTP status (null: none came, or no attempt yet)
    last_error: str | None
    last_attempt: datetime | None
    last_success: datetime | None
    next_attempt: datetime | None  # after a failure, the next attempt is not before this


class ForwardingStatus(msgspec.Struct, kw_only=True):
    """Each endpoint of TRACKER_FORWARD_URL, in its order there (empty: none is set)."""

    endpoints: list[EndpointStatus]


def forwarding_status(
    state: ForwardingState, views: Any, urls: tuple[str, ...]
) -> ForwardingStatus:
    """Each of ``urls`` (TRACKER_FORWARD_URL's) as its row says, in one read of the rows."""
    rows = state.all() if urls else {}
    head = views.changes_head() if urls else 0
    found = []
    for index, url in enumerate(urls, 1):
        row = rows.get(endpoint_key(url))
        position = row.position if row else 0
        found.append(
            EndpointStatus(
                index=index,
                endpoint=shown(url),
                started=row is not None,
                position=position,
                head=head,
                behind=max(0, head - position) if row else 0,
                pending=row.pending if row and row.pending > row.position else None,
                attempts=row.attempts if row else 0,
                failures=row.failures if row else 0,
                failing=row.failing if row else 0,
                last_status=row.last_status if row else None,
                last_error=row.last_error if row else None,
                last_attempt=row.last_attempt if row else None,
                last_success=row.last_success if row else None,
                next_attempt=row.next_attempt if row and row.failing else None,
            )
        )
    return ForwardingStatus(endpoints=found)
