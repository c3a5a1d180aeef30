"""The console's request log: the webhook's requests filtered and paged, and one request whole."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from tracker.read import queries
from tracker.read import requests as reads
from tracker.request_log import RequestFilter
from tracker.web.access import AUDITOR
from tracker.web.backend import Backend
from tracker.web.console.forms import BadFilter, Pager, form_instant
from tracker.web.console.render import page, sees
from tracker.web.params import id_sms_number
from tracker.web.requests_api import request_log

PAGE_SIZE = 50


def _status(text: str) -> int | None:
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) == 3):
        raise BadFilter(f"status: {text[:20]!r} is not an HTTP status (three digits, e.g. 413)")
    return int(text)


@get("/requests", guards=[sees(AUDITOR)])
async def requests(
    request: Request,
    backend: NamedDependency[Backend],
    received_from: FromQuery[str] = "",
    received_to: FromQuery[str] = "",
    status: FromQuery[str] = "",
    id_sms: FromQuery[str] = "",
    cursor: FromQuery[str] = "",
    trail: FromQuery[str] = "",
) -> Response:
    """Every request to the webhook, newest first, filtered by when, by status and by a
    message it carried; each links to its body and answer."""
    log = request_log(backend)
    chosen = {
        "received_from": received_from.strip(),
        "received_to": received_to.strip(),
        "status": status.strip(),
        "id_sms": id_sms.strip(),
    }
    context: dict[str, Any] = {"filters": chosen}
    try:
        where = RequestFilter(
            form_instant("received from", chosen["received_from"]),
            form_instant("received to", chosen["received_to"]),
            _status(chosen["status"]),
            id_sms_number(chosen["id_sms"]) if chosen["id_sms"] else None,
        )
        found = await backend.read(
            partial(reads.list_requests, log.store, where, cursor or None, PAGE_SIZE)
        )
    except (BadFilter, queries.BadCursor) as e:
        return await page(request, "requests.html", 400, rows=[], error=str(e), **context)
    kept = {k: v for k, v in chosen.items() if v}
    return await page(
        request,
        "requests.html",
        rows=found.requests,
        pages=Pager.of("/ui/requests", kept, cursor, trail, found.next),
        error=None,
        **context,
    )


@get("/requests/{request_id:int}", guards=[sees(AUDITOR)])
async def request_page(
    request: Request, backend: NamedDependency[Backend], request_id: FromPath[int]
) -> Response:
    """One request whole: what came and what it was answered."""
    log = request_log(backend)
    missing = f"no request {request_id} in the request log"
    found = await backend.found(missing, reads.request_detail, log.store, request_id)
    return await page(request, "request.html", r=found)
