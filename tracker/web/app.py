"""The Litestar application: ``create_app(tracker, views, settings)``, and the factory that
``tracker serve`` runs in each worker."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, TypeVar

import anyio
import msgspec
from eventsourcing.persistence import PersistenceError
from litestar import Litestar, Request, Response, get, post
from litestar.di import Provide
from litestar.exceptions import ClientException, NotFoundException, ServiceUnavailableException
from litestar.openapi import OpenAPIConfig
from litestar.params import Parameter

from tracker.application import Batch, Receipt, StoreUnavailable, Tracker
from tracker.bootstrap import open_tracker, open_views, store_for
from tracker.config import Settings
from tracker.domain.ids import message_number
from tracker.domain.status import Report, states_after
from tracker.group_commit import GroupCommit
from tracker.views.projector import LiveProjection, Projector
from tracker.views.store import ViewStore
from tracker.web.intake import BodyError, read_body
from tracker.web.schemas import (
    DailyDelivery,
    DeliveryPercentiles,
    MessageHistory,
    MessagePage,
    MessageState,
    MessageSummary,
    ProjectionLag,
    Quarantine,
    QuarantinedItem,
    Readiness,
    ReportRecord,
    StateCount,
    Stats,
)

log = logging.getLogger("tracker")
T = TypeVar("T")


class Store:
    """The Tracker, its group-commit writer, and a bound on the reader threads (the pool's size).

    Every way the store can fail reaches the client as 503 with Retry-After, nothing stored.
    """

    def __init__(self, tracker: Tracker, views: ViewStore, settings: Settings):
        self.tracker = tracker
        self.views = views
        self.projector = Projector(tracker, views)
        self.live = LiveProjection(self.projector) if settings.projections == "inline" else None
        self.writer = GroupCommit(tracker, on_commit=self.live.wake if self.live else None)
        self.limiter = anyio.CapacityLimiter(settings.store_threads)

    def start(self) -> None:
        if self.live:
            self.live.start()

    async def record(self, batch: Batch) -> Receipt:
        """Queue the batch for the next group commit; return once it is committed."""
        with _unavailable_as_503():
            return await asyncio.wrap_future(self.writer.submit(batch))

    async def read(self, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking read in a worker thread."""
        with _unavailable_as_503():
            return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self.limiter)

    def close(self) -> None:
        self.writer.close()
        if self.live:
            self.live.stop()
        self.tracker.close()


@contextmanager
def _unavailable_as_503() -> Iterator[None]:
    try:
        yield
    except (StoreUnavailable, PersistenceError) as e:  # the event store's, or the views'
        log.error("store unavailable: %s", e)
        raise ServiceUnavailableException(
            detail="the event store is unavailable; nothing was stored, try again",
            headers={"Retry-After": "1"},
        ) from e


@post("/webhooks/webcom", status_code=200, summary="Receive a batch of delivery statuses")
async def webhook(request: Request, store: Store) -> Response[bytes]:
    """Store every status of the batch, then answer with the ids that are durably stored.

    The body is read whatever its content type. Items whose ``id_sms`` names no message are
    quarantined; a body that is not a JSON array gets 400 and acknowledges nothing.
    """
    body = await request.body()
    received_at = datetime.now(UTC)
    try:
        intake = (
            read_body(body)
            if len(body) < 65536
            else await anyio.to_thread.run_sync(read_body, body)
        )
    except BodyError as e:
        await store.record(Batch((), (e.quarantine,), received_at))
        raise ClientException(detail=e.problem) from None
    receipt = await store.record(Batch(tuple(intake.statuses), tuple(intake.unusable), received_at))
    if intake.unusable:
        log.warning("quarantined %d item(s) without a usable id_sms", len(intake.unusable))
    return _json(intake.acknowledgement(receipt.stored))


@get("/messages", summary="A page of messages from the messages view, filtered")
async def list_messages(
    store: Store,
    in_state: Annotated[
        str | None, Parameter(query="state", description="Current state ('' for none known).")
    ] = None,
    final: bool | None = None,
    conflict: bool | None = None,
    received_from: Annotated[
        datetime | None, Parameter(description="Last report received at or after (UTC if naive).")
    ] = None,
    received_to: Annotated[
        datetime | None, Parameter(description="Last report received before (UTC if naive).")
    ] = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Parameter(description="The `next` of the previous page.")] = None,
) -> MessagePage:
    """Ordered by id_sms; the cursor pages through without repeating or skipping a message."""
    rows = await store.read(
        partial(
            store.views.list_messages,
            after=_after(cursor),
            limit=limit,
            state=in_state,
            final=final,
            conflict=conflict,
            received_from=_utc(received_from),
            received_to=_utc(received_to),
        )
    )
    return MessagePage(
        messages=[
            MessageSummary(
                id_sms=r.id_sms,
                state=r.state,
                time=r.current.time if r.current else None,
                instant=r.current.instant if r.current else None,
                final=r.final,
                conflict=r.conflict,
                reports=r.reports,
                first_received_at=r.first_received_at,
                last_received_at=r.last_received_at,
            )
            for r in rows
        ],
        next=_cursor(rows[-1].id_sms) if len(rows) == limit else None,
    )


def _cursor(id_sms: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{id_sms}".encode()).decode()


def _after(cursor: str | None) -> int:
    if cursor is None:
        return -1
    try:
        version, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if version == "v1" and (number := message_number(value)) is not None:
            return number
    except (ValueError, UnicodeDecodeError):
        pass
    raise ClientException(detail="cursor: not one this API gave out; start without it")


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


@get("/messages/{id_sms:str}", summary="A message's current state (from the messages view)")
async def message_state(id_sms: str, store: Store) -> MessageState:
    number = _number(id_sms)
    row = await store.read(store.views.message, number)
    if row is None:
        raise NotFoundException(
            detail=f"no status for id_sms {number} in the views (see /health/ready for their lag)"
        )
    return MessageState(
        id_sms=number,
        state=row.state,
        time=row.current.time if row.current else None,
        final=row.final,
        reports=row.reports,
    )


@get("/messages/{id_sms:str}/history", summary="Every report of a message, in arrival order")
async def message_history(
    id_sms: str,
    store: Store,
    as_of: Annotated[
        datetime | None,
        Parameter(description="Only reports received at or before this instant (UTC if naive)."),
    ] = None,
) -> MessageHistory:
    """Read from the event store itself (never behind), with the state after each report."""
    number = _number(id_sms)
    events = await store.read(store.tracker.history, number)
    as_of = _utc(as_of)
    if as_of is not None:
        events = [e for e in events if e.received_at <= as_of]
    if not events:
        when = f" by {as_of.isoformat()}" if as_of else ""
        raise NotFoundException(detail=f"no status was received for id_sms {number}{when}")
    after = states_after(Report(e.state, e.time, e.instant) for e in events)
    return MessageHistory(
        id_sms=number,
        state=after[-1].state if after[-1] else None,
        as_of=as_of,
        reports=[
            ReportRecord(
                received_at=e.received_at,
                state=e.state,
                time=e.time,
                instant=e.instant,
                outcome=e.outcome,
                state_after=a.state if a else None,
                raw=e.raw,
            )
            for e, a in zip(events, after, strict=True)
        ],
    )


@get("/quarantine", summary="Input that named no message, most recently received first")
async def quarantine(
    store: Store, limit: Annotated[int, Parameter(ge=1, le=1000)] = 100
) -> Quarantine:
    total, items = await store.read(store.views.list_quarantine, limit)
    return Quarantine(
        total=total,
        items=[
            QuarantinedItem(
                kind=i["kind"],
                raw=i["raw"],
                encoding=i["encoding"],
                reason=i["reason"],
                receipts=i["receipts"],
                first_received_at=datetime.fromisoformat(i["first_received_at"]),
                last_received_at=datetime.fromisoformat(i["last_received_at"]),
            )
            for i in items
        ],
    )


QUANTILES = (0.50, 0.90, 0.99)


@get("/stats", summary="Counts by state, final share, conflicts, delivery-time percentiles")
async def stats(
    store: Store,
    days: Annotated[int, Parameter(ge=1, le=366, description="Days of per-day figures.")] = 31,
) -> Stats:
    """From the views: state_counts, messages (conflicts) and delivery_times."""
    counts = await store.read(store.views.state_counts)
    conflicts = await store.read(store.views.conflicts)
    (total, overall), daily = await store.read(store.views.delivery_percentiles, QUANTILES, days)
    messages = sum(n for _, _, n in counts)
    final = sum(n for _, is_final, n in counts if is_final)
    return Stats(
        messages=messages,
        final=final,
        final_share=final / messages if messages else 0.0,
        conflicts=conflicts,
        states=[StateCount(state or None, f, n) for state, f, n in counts],
        delivery=DeliveryPercentiles(total, *(overall or [None] * len(QUANTILES))),
        per_day=[DailyDelivery(n, *values, day=day) for day, n, values in daily],
    )


@get("/health/live", summary="The process is up")
async def health_live() -> dict[str, str]:
    return {"status": "live"}


@get("/health/ready", summary="The store answers; how far the views lag behind the events")
async def health_ready(store: Store) -> Readiness:
    position, head = await store.read(store.projector.lag)
    return Readiness(
        status="ready",
        projection=ProjectionLag(position=position, head=head, lag=max(0, head - position)),
    )


def _number(id_sms: str) -> int:
    number = message_number(id_sms)
    if number is None:
        raise ClientException(detail=f"id_sms must be ASCII digits from 0 to 2^63-1: {id_sms!r}")
    return number


def _json(value: object) -> Response[bytes]:
    return Response(msgspec.json.encode(value), media_type="application/json")


def create_app(tracker: Tracker, views: ViewStore, settings: Settings) -> Litestar:
    """The HTTP application around a built Tracker and its views; it owns both from here on."""
    store = Store(tracker, views, settings)

    def provide_store() -> Store:
        return store

    def announce() -> None:
        log.info("events stored in %s", store_for(settings).description)
        log.warning(
            "the webhook and the read API are open to anyone who can reach %s:%s; "
            "keep TRACKER_HOST on 127.0.0.1 or put the tracker behind an authenticating proxy",
            settings.host,
            settings.port,
        )

    return Litestar(
        route_handlers=[
            webhook,
            list_messages,
            message_state,
            message_history,
            stats,
            quarantine,
            health_live,
            health_ready,
        ],
        dependencies={"store": Provide(provide_store, sync_to_thread=False)},
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="tracker", version="0.1.0"),
        on_startup=[announce, store.start],
        on_shutdown=[store.close],
    )


def app_from_env() -> Litestar:
    """The factory the ASGI server calls in each worker: settings from the environment."""
    settings = Settings.from_env()
    tracker = open_tracker(settings)
    return create_app(tracker, open_views(tracker, create=settings.create_tables), settings)
