"""What a delivery is, with no I/O: a batch's id and body, the wait before the next attempt, what
an answer means, and an endpoint as logs and pages show it.

A batch is the changes after the endpoint's delivered position, up to TRACKER_FORWARD_BATCH of
them. Its ``webhook-id`` names its first and last positions (``chg_FIRST_LAST``) and its body
depends on the changes alone, so every attempt at it, before or after a restart, carries the same
id and the same bytes; only ``webhook-timestamp`` and the signature are made afresh.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import msgspec

from tracker.views.projection import Change

EVENT_TYPE = "message.state_changed"
FIRST_WAIT = 1.0  # seconds: the ceiling of the wait after a first failure, doubled after each
LEAST_WAIT = 0.1  # seconds: never sooner than this after a failure (full jitter may draw 0)


class Data(msgspec.Struct, kw_only=True):
    first: int  # the position of the first change here
    last: int  # and of the last: the next batch starts after it
    changes: Sequence[Change]  # in position order


class Payload(msgspec.Struct, kw_only=True):
    """The Standard Webhooks envelope: the event type, a timestamp, and the data."""

    type: str
    timestamp: datetime  # when the batch's last change was received: the same on every attempt
    data: Data


@dataclass(frozen=True, slots=True)
class Batch:
    id: str
    first: int
    last: int
    count: int
    body: bytes


def batch_of(changes: Sequence[Change]) -> Batch:
    """The batch of ``changes`` (at least one, in position order): its id and JSON body."""
    first, last = changes[0].position, changes[-1].position
    payload = Payload(
        type=EVENT_TYPE,
        timestamp=changes[-1].received_at,
        data=Data(first=first, last=last, changes=changes),
    )
    return Batch(f"chg_{first}_{last}", first, last, len(changes), msgspec.json.encode(payload))


def wait_after(
    failures: int,
    most: float,
    retry_after: float | None = None,
    draw: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: full jitter, a uniform draw
    below a ceiling of 1 s doubled at each failure up to ``most`` (AWS's "Exponential Backoff
    And Jitter"), never below LEAST_WAIT; a receiver's Retry-After is waited at least (at most
    ``most``). Receivers that fail together then spread their retries instead of arriving in
    step."""
    ceiling = min(most, FIRST_WAIT * 2.0 ** min(max(failures, 1) - 1, 64))
    wait = max(LEAST_WAIT, ceiling * draw())
    if retry_after is not None:
        wait = max(wait, min(most, retry_after))
    return min(wait, max(most, LEAST_WAIT))


def retry_after(value: str | None) -> float | None:
    """A Retry-After header's seconds (the HTTP-date form is not read: None)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def delivered(status: int) -> bool:
    """Only a 2xx answer delivers: anything else (a redirect too, which is not followed: it
    would take the signed body elsewhere) is a failure, retried."""
    return 200 <= status < 300


def refused(status: int) -> bool:
    """A 4xx other than 408 and 429: the receiver refused the batch itself, and only a fix on
    its side helps. Retried like the others (never skipped: the receiver may be fixed), and
    said louder in the log."""
    return 400 <= status < 500 and status not in (408, 429)


def shown(url: str) -> str:
    """An endpoint as logs, pages and errors show it: its scheme, host, port and path, without
    the credentials a URL may carry (user and password, and the query, replaced by ``?...``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/'}" + ("?..." if parts.query else "")


def endpoint_key(url: str) -> str:
    """The name an endpoint's durable row is kept under: a digest of the whole URL (a URL
    changed in any part is a new endpoint), never the URL itself."""
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def scrubbed(error: str, url: str) -> str:
    """An error's text with the URL, should it quote it, shown as ``shown`` shows it."""
    return error.replace(url, shown(url))[:500]
