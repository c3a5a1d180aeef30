"""The console's overview, the message list and its look-up, and the quarantine's pages."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect

from tracker.read import queries
from tracker.read.models import MessageSummary
from tracker.web.access import ANALYST, AUDITOR
from tracker.web.audit_api import audit_status
from tracker.web.backend import Backend
from tracker.web.chart import delivery_chart
from tracker.web.console.forms import (
    BadFilter,
    Pager,
    as_chosen,
    day_range,
    form_instant,
    page_size,
    yes_no,
)
from tracker.web.console.pictures import Pictures, pictures
from tracker.web.console.render import may, page, sees, viewer_role
from tracker.web.params import id_sms_number

PAGE_SIZE = 50
STATES = queries.STATES
NO_STATE = "-"  # the list filter for messages with no known state yet


@get("/", guards=[sees(ANALYST, AUDITOR)])
async def overview(
    request: Request,
    backend: NamedDependency[Backend],
    day_from: Annotated[str, QueryParameter(name="from")] = "",
    day_to: Annotated[str, QueryParameter(name="to")] = "",
) -> Response:
    """Counts by state, final share, conflicts, overdue messages, delivery times per day, the
    projection's lag; the delivery rate and volume per sending day of a range, and the senders
    and campaigns; for auditors, how far the history was verified and the current digest, and
    how the outbound webhooks stand."""
    readiness = await backend.read(queries.readiness, backend.projector)
    role = viewer_role(request)
    audit = (
        await backend.read(audit_status, backend.audit, backend.audit_key)
        if may(role, AUDITOR)
        else None
    )
    forwarding = (
        await backend.read(backend.forwarding_status)
        if may(role, AUDITOR) and backend.forward_urls
        else None
    )
    if not may(role, ANALYST):  # an auditor: the lag, the audit, the lookup, the quarantine
        return await page(
            request,
            "overview.html",
            stats=None,
            lag=readiness.projection,
            audit=audit,
            forwarding=forwarding,
        )
    stats = await backend.read(partial(queries.stats, **backend.clock()), backend.views, 31)
    top = max((s.messages for s in stats.states), default=0)
    chosen = {"from": day_from.strip(), "to": day_to.strip()}
    found: Pictures | None = None
    error = incomplete = None
    try:
        first, last = day_range(chosen["from"], chosen["to"], datetime.now(UTC).date())
        found = await backend.read(pictures, backend.views, first, last)
    except BadFilter as e:
        error = str(e)
    except queries.BreakdownIncomplete as e:
        incomplete = str(e)
    return await page(
        request,
        "overview.html",
        400 if error else 200,
        chosen_days=chosen,
        pictures=found,
        range_error=error,
        incomplete=incomplete,
        stats=stats,
        lag=readiness.projection,
        audit=audit,
        forwarding=forwarding,
        chart=delivery_chart(stats.per_day),
        bar=lambda n: round(200 * n / top) if top else 0,
    )


@get("/find", guards=[sees(ANALYST, AUDITOR)])
async def find(id_sms: FromQuery[str] = "") -> Redirect:
    """The look-up box: straight to the message's page."""
    return Redirect(f"/ui/messages/{id_sms_number(id_sms.strip())}", status_code=303)


@get("/messages", guards=[sees(ANALYST)])
async def messages(
    request: Request,
    backend: NamedDependency[Backend],
    id_sms: FromQuery[str] = "",
    in_state: Annotated[str, QueryParameter(name="state")] = "",
    final: FromQuery[str] = "",
    conflict: FromQuery[str] = "",
    received_from: FromQuery[str] = "",
    received_to: FromQuery[str] = "",
    overdue: FromQuery[str] = "",
    cursor: FromQuery[str] = "",
    trail: FromQuery[str] = "",
) -> Response:
    """The messages view, filtered and paged; every filter is a plain query parameter."""
    chosen = {
        "id_sms": id_sms.strip(),
        "state": in_state,
        "final": as_chosen(final),
        "conflict": as_chosen(conflict),
        "received_from": received_from.strip(),
        "received_to": received_to.strip(),
        "overdue": as_chosen(overdue),
    }
    context: dict[str, Any] = {
        "filters": chosen,
        "states": STATES,
        "NO_STATE": NO_STATE,
        "zone": backend.tracker.local_zone,
    }
    try:
        if chosen["id_sms"]:
            found = await backend.read(
                partial(queries.message, **backend.clock()),
                backend.tracker,
                backend.views,
                id_sms_number(chosen["id_sms"]),
            )
            rows: list[MessageSummary] = [found] if found else []
            after = None
        else:
            result = await backend.read(
                partial(
                    queries.list_messages,
                    backend.views,
                    queries.MessageFilter(
                        state=queries.state_filter(in_state or None, none_known=NO_STATE),
                        final=yes_no("final", final),
                        conflict=yes_no("conflict", conflict),
                        received_from=form_instant("received from", chosen["received_from"]),
                        received_to=form_instant("received to", chosen["received_to"]),
                        overdue=yes_no("overdue", overdue),
                    ),
                    cursor=cursor or None,
                    limit=PAGE_SIZE,
                    **backend.clock(),
                )
            )
            rows, after = result.messages, result.next
    except (BadFilter, queries.BadCursor) as e:
        return await page(request, "messages.html", 400, rows=[], error=str(e), **context)
    kept = {k: v for k, v in chosen.items() if v}
    return await page(
        request,
        "messages.html",
        rows=rows,
        pages=Pager.of("/ui/messages", kept, cursor, trail, after),
        **context,
    )


QUARANTINE_PAGE = (50, 500)  # items a page: by default, at most


@get("/quarantine", guards=[sees(AUDITOR)])
async def quarantine(
    request: Request,
    backend: NamedDependency[Backend],
    cursor: FromQuery[str] = "",
    trail: FromQuery[str] = "",
    limit: FromQuery[str] = "",
) -> Response:
    """Input that named no message, most recently received first, one page at a time, each
    item's raw text cut to its first 4,096 characters with a link to the whole item."""
    try:
        size = page_size(limit, *QUARANTINE_PAGE)
        found = await backend.read(queries.quarantine, backend.views, size, cursor or None)
    except (BadFilter, queries.BadCursor) as e:
        return await page(request, "quarantine.html", 400, quarantine=None, error=str(e))
    kept = {"limit": limit} if limit else {}
    return await page(
        request,
        "quarantine.html",
        quarantine=found,
        pages=Pager.of("/ui/quarantine", kept, cursor, trail, found.next),
        error=None,
    )


@get("/quarantine/{item_id:str}", guards=[sees(AUDITOR)])
async def quarantined_item(
    request: Request, backend: NamedDependency[Backend], item_id: FromPath[str]
) -> Response:
    """One quarantined item, its raw text whole."""
    missing = f"no quarantined item has the id {item_id[:40]!r}"
    found = await backend.found(missing, queries.quarantined_item, backend.views, item_id)
    return await page(request, "quarantined.html", item=found)
