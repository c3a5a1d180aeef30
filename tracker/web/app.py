"""The Litestar application: ``create_app(tracker, settings)`` and the factory ``serve`` runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

import anyio
import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.di import Provide
from litestar.exceptions import ClientException, NotFoundException, ServiceUnavailableException
from litestar.openapi import OpenAPIConfig

from tracker.application import Batch, Receipt, StoreUnavailable, Tracker
from tracker.bootstrap import open_tracker, store_for
from tracker.config import Settings
from tracker.domain.ids import message_number
from tracker.group_commit import GroupCommit
from tracker.web.intake import BodyError, read_body
from tracker.web.schemas import MessageHistory, MessageState, ReportRecord

log = logging.getLogger("tracker")
T = TypeVar("T")


class Store:
    """The Tracker, its group-commit writer, and a bound on the reader threads (the pool's size).

    Every way the store can fail reaches the client as 503 with Retry-After, nothing stored.
    """

    def __init__(self, tracker: Tracker, threads: int):
        self.tracker = tracker
        self.writer = GroupCommit(tracker)
        self.limiter = anyio.CapacityLimiter(threads)

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
        self.tracker.close()


@contextmanager
def _unavailable_as_503() -> Iterator[None]:
    try:
        yield
    except StoreUnavailable as e:
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


@get("/messages/{id_sms:str}", summary="A message's current state")
async def message_state(id_sms: str, store: Store) -> MessageState:
    number = _number(id_sms)
    message = await store.read(store.tracker.message, number)
    if message is None:
        raise NotFoundException(detail=f"no status was ever received for id_sms {number}")
    current = message.current
    return MessageState(
        id_sms=number,
        state=current.state if current else None,
        time=current.time if current else None,
        final=message.final,
        reports=len(message.reports),
    )


@get("/messages/{id_sms:str}/history", summary="Every report of a message, in arrival order")
async def message_history(id_sms: str, store: Store) -> MessageHistory:
    number = _number(id_sms)
    events = await store.read(store.tracker.history, number)
    if not events:
        raise NotFoundException(detail=f"no status was ever received for id_sms {number}")
    return MessageHistory(
        id_sms=number,
        reports=[
            ReportRecord(
                received_at=e.received_at,
                state=e.state,
                time=e.time,
                instant=e.instant,
                outcome=e.outcome,
                raw=e.raw,
            )
            for e in events
        ],
    )


def _number(id_sms: str) -> int:
    number = message_number(id_sms)
    if number is None:
        raise ClientException(detail=f"id_sms must be ASCII digits from 0 to 2^63-1: {id_sms!r}")
    return number


def _json(value: object) -> Response[bytes]:
    return Response(msgspec.json.encode(value), media_type="application/json")


def create_app(tracker: Tracker, settings: Settings) -> Litestar:
    """The HTTP application around a built Tracker; it owns the Tracker from here on."""
    store = Store(tracker, settings.store_threads)

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
        route_handlers=[webhook, message_state, message_history],
        dependencies={"store": Provide(provide_store, sync_to_thread=False)},
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="tracker", version="0.1.0"),
        on_startup=[announce],
        on_shutdown=[store.close],
    )


def app_from_env() -> Litestar:
    """The factory the ASGI server calls in each worker: settings from the environment."""
    settings = Settings.from_env()
    return create_app(open_tracker(settings), settings)
