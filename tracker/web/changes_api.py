"""The change feed: GET /changes a page at a time, GET /changes/stream as Server-Sent Events.

A stream polls the change view (the head of this process's streams read once per poll, a page
read only when it moved), holding no store thread while it waits; it resumes after the position
a reconnecting client names in ``Last-Event-ID`` (or ``?after=``), so a client misses nothing
and gets nothing twice. Streams open at once are bounded per process (TRACKER_STREAMS); each
ends when its client goes, and when the server shuts down (web/server.py sets its stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from litestar import Request, get
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, HTTPException, ServiceUnavailableException
from litestar.params import HeaderParameter, Parameter
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from tracker.read.changes import PAGE, PAGE_MAX, BeforeTheFeed, change_page
from tracker.read.models import ChangePage
from tracker.web.access import ANALYST, AUDITOR
from tracker.web.api import for_roles
from tracker.web.backend import Backend
from tracker.web.openapi import StreamOperation
from tracker.web.params import id_sms_number
from tracker.web.server import ENDS_ON_SHUTDOWN

log = logging.getLogger("tracker")

POLL = 0.5  # seconds between reads of the view while a stream has nothing to send
KEEP_ALIVE = 15.0  # seconds of silence after which a stream sends a comment
STREAM_PAGE = 500  # changes read at once for a stream
POSITION_MAX = 2**63 - 1
_encode = msgspec.json.encode


class Feed:
    """This process's streams: how many are open (at most ``limit``), and the change view's
    head, read at most once a poll for all of them."""

    def __init__(self, limit: int, poll: float = POLL, keep_alive: float = KEEP_ALIVE):
        self.limit, self.poll, self.keep_alive = limit, poll, keep_alive
        self.open = 0
        self._head, self._read_at = 0, float("-inf")
        self._reading: asyncio.Lock | None = None

    def take(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    async def head(self, backend: Backend) -> int:
        """The change view's head, as read within the last poll interval."""
        if self._reading is None:
            self._reading = asyncio.Lock()
        async with self._reading:
            if time.monotonic() - self._read_at >= self.poll:
                self._head = await backend.read(backend.views.changes_head)
                self._read_at = time.monotonic()
            return self._head


class _Slot:
    """A stream's place among the open ones, given back once (when it ends, however)."""

    def __init__(self, feed: Feed):
        self.feed, self.held = feed, True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.feed.open -= 1


def _feed(request: Request) -> Feed:
    return request.app.state.feed


Position = Annotated[
    int,
    Parameter(
        ge=0, le=POSITION_MAX, description="Changes after this position (0: from the first)."
    ),
]
MessageNumber = Annotated[
    str | None, Parameter(description="Only this message's changes (its id_sms).")
]


@get(
    "/changes",
    summary="The state changes of messages, in log order, a page at a time",
    **for_roles(AUDITOR, ANALYST, errors=(400, 409)),
)
async def changes(
    backend: NamedDependency[Backend],
    after: Position = 0,
    limit: Annotated[int, Parameter(ge=1, le=PAGE_MAX, description="Changes a page holds.")] = PAGE,
    id_sms: MessageNumber = None,
) -> ChangePage:
    """Each change: the position (the notification id of the report that made it), the message,
    its state before and after, whether that is final, and the report's time, instant, receipt
    and source. Pass ``next`` as ``after`` for the next page; a page with no changes keeps
    ``next`` where it was (poll again later). 409 when the view lacks the changes after
    ``after`` (views made before it existed: `tracker rebuild` fills it)."""
    number = None if id_sms is None else id_sms_number(id_sms)
    try:
        return await backend.read(change_page, backend.views, after, limit, number)
    except BeforeTheFeed as e:
        raise ClientException(status_code=409, detail=str(e)) from None


@get(
    "/changes/stream",
    summary="The state changes of messages as Server-Sent Events, resumable",
    **for_roles(AUDITOR, ANALYST, errors=(400, 409)),
    operation_class=StreamOperation,
)
async def change_stream(
    request: Request,
    backend: NamedDependency[Backend],
    after: Position = 0,
    id_sms: MessageNumber = None,
    last_event_id: Annotated[
        str | None,
        HeaderParameter(
            name="Last-Event-ID",
            description="The id of the last event received: the stream resumes after it "
            "(EventSource sends it when it reconnects; it takes precedence over ?after=).",
        ),
    ] = None,
) -> ServerSentEvent:
    """Each event is ``id: <position>``, ``event: change``, ``data: <the change as JSON>``, as
    GET /changes gives it; a comment every 15 s of silence keeps proxies from closing it. The
    stream resumes after ``Last-Event-ID`` (else ``?after=``): nothing missed, nothing twice.
    503 with Retry-After when this process has TRACKER_STREAMS streams open."""
    number = None if id_sms is None else id_sms_number(id_sms)
    if last_event_id is not None:
        after = _last_event_id(last_event_id)
    complete_from = await backend.read(backend.views.changes_complete_from)
    if after < complete_from:
        raise ClientException(status_code=409, detail=str(BeforeTheFeed(after, complete_from)))
    feed = _feed(request)
    if not feed.take():
        raise ServiceUnavailableException(
            detail=f"{feed.limit} change streams are open in this process (TRACKER_STREAMS); "
            "try again, or read GET /changes",
            headers={"Retry-After": "5"},
        )
    slot, stop = _Slot(feed), asyncio.Event()
    request.scope[ENDS_ON_SHUTDOWN] = stop  # type: ignore[literal-required]
    return ServerSentEvent(
        _events(backend, feed, slot, stop, after, number),
        background=BackgroundTask(slot.release),  # (the stream gives it back itself)
    )


def _last_event_id(text: str) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise ClientException(
            detail=f"Last-Event-ID: a position (ASCII digits) is expected: {text[:40]!r}"
        )
    return int(value)


async def _events(
    backend: Backend,
    feed: Feed,
    slot: _Slot,
    stop: asyncio.Event,
    after: int,
    id_sms: int | None,
) -> AsyncIterator[ServerSentEventMessage]:
    """The changes after ``after``, as they come, until the client or the server goes."""
    quiet_since = time.monotonic()
    read = after  # every change up to this position has been read (of this message, with one)
    try:
        while not stop.is_set():
            page = []
            if (head := await feed.head(backend)) > read:
                page = await backend.read(backend.views.changes_after, after, STREAM_PAGE, id_sms)
                # Rows commit in position order: a read after the head was read saw all below it.
                read = page[-1].position if len(page) == STREAM_PAGE else max(head, read)
            for change in page:
                yield ServerSentEventMessage(
                    data=_encode(change).decode(), event="change", id=change.position
                )
            if page:
                after, quiet_since = page[-1].position, time.monotonic()
                if len(page) == STREAM_PAGE:
                    continue  # more are waiting
            elif time.monotonic() - quiet_since >= feed.keep_alive:
                yield ServerSentEventMessage(data=None, comment="keep-alive")
                quiet_since = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), feed.poll)
    except HTTPException:  # the store failed (logged): the client reconnects, resuming
        return
    finally:
        slot.release()


ROUTES = [changes, change_stream]
