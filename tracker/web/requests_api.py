"""The request log's routes: a page of the webhook's requests, one whole, and its replay."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import partial
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, HTTPException, NotFoundException
from litestar.params import FromPath, Parameter, QueryParameter

from tracker.read import requests as reads
from tracker.read.queries import BadCursor, BadFilter, utc_instant
from tracker.request_log import TRUNCATED, Record, RequestFilter, RequestLog
from tracker.web.access import ADMIN, AUDITOR, Access
from tracker.web.api import for_roles, instant_param
from tracker.web.backend import Backend
from tracker.web.ingest import take
from tracker.web.openapi import ReplayOperation
from tracker.web.request_log import REGISTRATION, Seen


class _Conflict(HTTPException):
    # A class of its own, not HTTPException(status_code=...): Litestar's logging reads the status
    # of the exception's class, so a 4xx raised as a bare HTTPException was logged as an error
    # with its traceback.
    status_code = 409


class _Gone(HTTPException):
    status_code = 410


REPLAY = "replay"  # the note of a replay's own record
OFF = "the request log is off (TRACKER_REQUEST_LOG=false)"


def request_log(backend: Backend) -> RequestLog:
    if backend.requests is None:
        raise NotFoundException(detail=OFF)
    return backend.requests


def request_filter(
    received_from: str | None, received_to: str | None, status: int | None, id_sms: int | None
) -> RequestFilter:
    """The listing's filter from its parameters; a bad one is a 400 naming it."""
    try:
        example = "an ISO 8601 instant (e.g. 2024-05-01T10:00:00Z)"
        start = None if received_from is None else utc_instant("from", received_from, example)
        end = None if received_to is None else utc_instant("to", received_to, example)
    except BadFilter as e:
        raise ClientException(detail=str(e)) from None
    return RequestFilter(start, end, status, id_sms)


@get(
    "/requests",
    summary="The webhook's requests, newest first",
    **for_roles(AUDITOR, errors=(400, 404)),
)
async def list_requests(
    backend: NamedDependency[Backend],
    received_from: Annotated[
        str | None, instant_param(name="from", description="Received at or after (UTC if naive).")
    ] = None,
    received_to: Annotated[
        str | None, instant_param(name="to", description="Received before (UTC if naive).")
    ] = None,
    status: Annotated[
        int | None, Parameter(ge=100, le=599, description="The answer's HTTP status.")
    ] = None,
    id_sms: Annotated[
        int | None,
        QueryParameter(ge=0, le=2**63 - 1, description="Only requests that carried this message."),
    ] = None,
    limit: Annotated[int, Parameter(ge=1, le=reads.MAX_LIMIT)] = reads.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Parameter(description="The `next` of the previous page.")] = None,
) -> reads.RequestPage:
    """Every POST to the webhook, accepted or refused, with what it was answered (bodies at
    ``/requests/{id}``); the cursor pages through without repeating or skipping one."""
    log = request_log(backend)
    where = request_filter(received_from, received_to, status, id_sms)
    try:
        reads.cursor_of(cursor)
    except BadCursor as e:
        raise ClientException(detail=str(e)) from None
    return await backend.read(partial(reads.list_requests, log.store, where, cursor, limit))


@get(
    "/requests/{request_id:int}",
    summary="One request to the webhook, with its body and answer",
    **for_roles(AUDITOR, errors=(400, 404)),
)
async def request_detail(
    request_id: FromPath[int], backend: NamedDependency[Backend]
) -> reads.RequestDetail:
    """The body and the answer as text when they are UTF-8, else in base64 (``*_encoding``)."""
    log = request_log(backend)
    missing = f"no request {request_id} in the request log"
    return await backend.found(missing, reads.request_detail, log.store, request_id)


@post(
    "/requests/{request_id:int}/replay",
    status_code=200,
    summary="Run a recorded request's body through the webhook again",
    operation_class=ReplayOperation,
    **for_roles(ADMIN, errors=(400, 404, 409, 410)),
)
async def replay(
    request_id: FromPath[int], request: Request, backend: NamedDependency[Backend]
) -> Response[bytes]:
    """Read and record the body as the webhook does now, and answer what it answers (JSON or
    XML). What was stored already is a repeat (acknowledged, nothing new folded); the replay is
    recorded in the request log too, naming the original."""
    log = request_log(backend)
    missing = f"no request {request_id} in the request log"
    original = await backend.found(missing, reads.request_record, log.store, request_id)
    refusal = replay_refusal(original, request.app.state.access)
    if refusal:
        raise (_Conflict if refusal[0] == 409 else _Gone)(detail=refusal[1])
    body = original.body or b""
    received_at, started, what = datetime.now(UTC), time.perf_counter(), Seen()
    status, content = 503, b""
    try:
        answer = await take(body, backend.record, what)
        status, content = answer.status, answer.content
    finally:
        client = request.client.host if request.client else ""
        log.put(replayed(original, what, status, content, client, received_at, started))
    return Response(answer.content, status_code=answer.status, media_type=answer.media_type)


def replay_refusal(original: Record, access: Access) -> tuple[int, str] | None:
    """Why a recorded request cannot be replayed: (status, detail), or None when it can. A
    request refused for its sender is replayed only once the settings now allow that sender;
    one refused for its token never (the token tried is not kept, so none can be checked)."""
    if original.format == REGISTRATION:
        return 409, (
            f"request {original.id} registered what was sent (POST /messages/sent): only "
            "webhook requests are replayed; post its body to /messages/sent again (the same "
            "registrations again record nothing)"
        )
    if original.status in REFUSED_FOR_TOKEN:
        return 409, (
            f"request {original.id} was refused for its token ({original.status}): the token "
            "tried is never kept, so a replay could not check it; the platform must send it "
            "again with a valid token"
        )
    if original.status == 403 and not access.sender_allowed(original.sender):
        return 409, (
            f"request {original.id}'s sender {original.sender} is still not allowed by "
            "TRACKER_WEBHOOK_ALLOW: fix the setting first"
        )
    note = original.note or ""
    if TRUNCATED in note or "body incomplete" in note:
        kept = len(original.body or b"")
        return 409, (
            f"only {kept} of the {original.size} bytes of request {original.id}'s body were "
            "kept: it cannot be replayed"
        )
    if original.body is None and original.size:
        return 410, (
            f"the body of request {original.id} is no longer kept ({note or 'dropped'}): "
            "it cannot be replayed"
        )
    return None


REFUSED_FOR_TOKEN = (401, 404)  # a wrong or missing token (TRACKER_WEBHOOK_TOKENS)


def replayed(
    original: Record,
    what: Seen,
    status: int,
    answer: bytes,
    sender: str,
    received_at: datetime,
    started: float,
) -> Record:
    """The record of a replay of ``original``."""
    return Record(
        received_at=received_at,
        answered_at=datetime.now(UTC),
        sender=sender,
        token=original.token,
        size=len(original.body or b""),
        content_type=original.content_type,
        format=what.format,
        status=status,
        acknowledged=what.acknowledged,
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
        ids=what.ids,
        note=REPLAY,
        replay_of=original.id,
        body=original.body,
        answer=answer or None,
    )


ROUTES = [list_requests, request_detail, replay]
