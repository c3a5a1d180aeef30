"""The read API, admin rebuilds, health and metrics: tracker.read's queries in reader threads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery, Parameter, QueryParameter
from litestar.plugins.prometheus import PrometheusController
from litestar.response import Redirect, Stream

from tracker.read import export, queries, requests
from tracker.read.breakdown import BY, day_filter
from tracker.read.models import (
    NO_KNOWN_STATE,
    Breakdown,
    MessageHistory,
    MessagePage,
    MessageSummary,
    Quarantine,
    QuarantinedItem,
    Readiness,
    RebuildStatus,
    ReportRecord,
    Stats,
)
from tracker.web import group_metrics, metrics
from tracker.web.access import ADMIN, ANALYST, ANY_ROLE, AUDITOR, metrics_guard, requires
from tracker.web.backend import Backend
from tracker.web.openapi import (
    API_KEY,
    KEYED,
    ExportOperation,
    MetricsOperation,
    problems,
)
from tracker.web.params import id_sms_number, position_number

T = TypeVar("T")


def for_roles(*roles: str, errors: tuple[int, ...] = ()) -> dict[str, Any]:
    """Route options for an endpoint behind API keys: the guard letting these roles (and admin)
    through, and the OpenAPI security and error answers that come with it."""
    return {
        "guards": [requires(*roles)],
        "security": API_KEY,
        "responses": problems(*errors, *KEYED),
    }


@get(
    "/messages",
    summary="A page of messages from the messages view, filtered",
    **for_roles(ANALYST),
)
async def list_messages(
    backend: NamedDependency[Backend],
    in_state: Annotated[  # "state" is a name Litestar keeps for itself
        str | None,
        QueryParameter(
            name="state",
            description=f"Current state: one of the platform's states, or '' for {NO_KNOWN_STATE}.",
        ),
    ] = None,
    final: FromQuery[bool | None] = None,
    conflict: FromQuery[bool | None] = None,
    received_from: Annotated[
        str | None, instant_param(description="Last report received at or after (UTC if naive).")
    ] = None,
    received_to: Annotated[
        str | None, instant_param(description="Last report received before (UTC if naive).")
    ] = None,
    overdue: Annotated[
        bool | None,
        Parameter(
            description="true: only the messages not final TRACKER_OVERDUE_AFTER (72h by "
            "default) after their first receipt (report or registration), as of now; false: only "
            "the others."
        ),
    ] = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Parameter(description="The `next` of the previous page.")] = None,
) -> MessagePage:
    """Ordered by id_sms; the cursor pages through without repeating or skipping a message."""
    with _as_400():
        return await backend.read(
            partial(
                queries.list_messages,
                backend.views,
                queries.MessageFilter(
                    state=_known_state(in_state),
                    final=final,
                    conflict=conflict,
                    received_from=_instant("received_from", received_from),
                    received_to=_instant("received_to", received_to),
                    overdue=overdue,
                ),
                cursor=cursor,
                limit=limit,
                **backend.clock(),
            )
        )


@get(
    "/messages/{id_sms:str}",
    summary="A message as it stands, in the shape the list gives",
    **for_roles(ANALYST, errors=(400, 404)),
)
async def message_state(id_sms: FromPath[str], backend: NamedDependency[Backend]) -> MessageSummary:
    """From the messages view, or from the event store while the view has not yet taken in
    the message's last event: a status acknowledged is shown at once."""
    number = id_sms_number(id_sms)
    missing = f"no status was received for id_sms {number}, nor a registration that stands"
    read = partial(queries.message, **backend.clock())
    return await backend.found(missing, read, backend.tracker, backend.views, number)


@get(
    "/messages/{id_sms:str}/history",
    summary="Every report of a message, in arrival order",
    **for_roles(AUDITOR, errors=(400, 404)),
)
async def message_history(
    id_sms: FromPath[str],
    backend: NamedDependency[Backend],
    as_of: Annotated[
        str | None,
        instant_param(
            description="Only reports received at or before this instant (UTC if naive)."
        ),
    ] = None,
    limit: Annotated[
        int, Parameter(ge=1, le=queries.HISTORY_PAGE_MAX, description="Reports a page holds.")
    ] = queries.HISTORY_PAGE,
    cursor: Annotated[str | None, Parameter(description="The `next` of the previous page.")] = None,
) -> Response[MessageHistory]:
    """Read from the event store itself (never behind), with the state after each report and
    how many times each was received; paged (``total`` reports in all, ``next`` continues)."""
    number = id_sms_number(id_sms)
    moment = _instant("as_of", as_of)
    with _as_400():  # encoded in the worker thread too: a page may be megabytes of JSON
        read = partial(queries.history, backend.tracker, number, moment, cursor=cursor, limit=limit)
        history, encoded = await backend.read(_encoded, partial(_linked, read, backend))
    if history is None:
        when = f" by {moment.isoformat().replace('+00:00', 'Z')}" if moment else ""
        raise NotFoundException(detail=f"no status was received for id_sms {number}{when}")
    return Response(encoded, media_type="application/json")


@get(
    "/messages/{id_sms:str}/reports/{position:str}",
    summary="One report of a message's history, its raw item whole",
    **for_roles(AUDITOR, errors=(400, 404)),
)
async def message_report(
    id_sms: FromPath[str], position: FromPath[str], backend: NamedDependency[Backend]
) -> ReportRecord:
    """The report at this position of the history (0: the first), as a history page gives
    it, but with its raw item whole."""
    number = id_sms_number(id_sms)
    missing = f"id_sms {number} has no report at position {position}"
    at = position_number(position)
    return await backend.found(missing, queries.report_at, backend.tracker, number, at)


@get(
    "/quarantine",
    summary="Input that named no message, most recently received first",
    **for_roles(AUDITOR),
)
async def quarantine(
    backend: NamedDependency[Backend],
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Parameter(description="The `next` of the previous page.")] = None,
) -> Quarantine:
    """Each item's raw text is cut to its first 4,096 characters (``truncated`` says so);
    GET /quarantine/{id} gives one item whole."""
    with _as_400():
        return await backend.read(queries.quarantine, backend.views, limit, cursor)


@get(
    "/quarantine/{item_id:str}",
    summary="One quarantined item, its raw text whole",
    **for_roles(AUDITOR, errors=(404,)),
)
async def quarantined_item(
    item_id: FromPath[str], backend: NamedDependency[Backend]
) -> QuarantinedItem:
    missing = f"no quarantined item has the id {item_id[:40]!r}"
    return await backend.found(missing, queries.quarantined_item, backend.views, item_id)


class BreakdownIncomplete(ClientException):
    status_code = 409


@get(
    "/stats",
    summary="Counts by state, final share, conflicts, overdue, delivery-time percentiles; "
    "with by=, the messages by sender, campaign, channel or day",
    **for_roles(ANALYST, errors=(400, 409)),
)
async def stats(
    backend: NamedDependency[Backend],
    days: Annotated[int, Parameter(ge=1, le=366, description="Days of per-day figures.")] = 31,
    by: Annotated[
        str | None,
        Parameter(description=f"Group the messages by {', '.join(BY)} (the breakdown)."),
    ] = None,
    day_from: Annotated[
        str | None,
        QueryParameter(
            name="from", description="With by: the first sending day (UTC, YYYY-MM-DD)."
        ),
    ] = None,
    day_to: Annotated[
        str | None,
        QueryParameter(name="to", description="With by: the last sending day, inclusive."),
    ] = None,
) -> Stats | Breakdown:
    """From the views: state_counts, messages (conflicts; overdue, as of now) and
    delivery_times. With ``by``: the breakdown views, over the sending days ``from`` to ``to``
    (both inclusive; definitions in docs/views.md); 409 for views made before them, until
    `tracker rebuild`."""
    if by is None:
        with _as_400():
            for name, given in (("from", day_from), ("to", day_to)):
                if given is not None:
                    raise queries.BadFilter(f"{name}: applies only with by= ({', '.join(BY)})")
        return await backend.read(partial(queries.stats, **backend.clock()), backend.views, days)
    with _as_400():
        first, last = day_filter("from", day_from), day_filter("to", day_to)
        try:
            return await backend.read(queries.breakdown, backend.views, by, first, last)
        except queries.BreakdownIncomplete as e:
            raise BreakdownIncomplete(detail=str(e)) from None


@get(
    "/export/{kind:str}",
    summary="The messages view or every report, streamed as CSV or JSON Lines",
    **for_roles(ANALYST, errors=(400,)),
    operation_class=ExportOperation,
)
async def export_rows(
    kind: Annotated[Literal["messages", "reports"], Parameter(description="What to export.")],
    backend: NamedDependency[Backend],
    format: Annotated[Literal["csv", "jsonl"], Parameter(description="csv or jsonl.")] = "csv",
) -> Stream:
    """Streamed page by page (memory stays flat); `tracker export` also writes Parquet."""
    rows, fields = (
        (export.message_rows(backend.views), export.MESSAGE_FIELDS)
        if kind == "messages"
        else (export.report_rows(backend.tracker), export.REPORT_FIELDS)
    )
    return Stream(
        export.encode(rows, fields, format),
        media_type="text/csv" if format == "csv" else "application/jsonl",
        headers={"Content-Disposition": f'attachment; filename="{kind}.{format}"'},
    )


class Rebuilds(Controller):
    """Rebuilding the views from the whole history, for admins (one controller, so that
    OPTIONS answers with both methods)."""

    path = "/admin/rebuild"
    guards = [requires(ADMIN)]  # noqa: RUF012 (Litestar's Controller declares it this way)
    security = API_KEY

    @post(
        status_code=202,
        summary="Start rebuilding the views from the whole history",
        responses=problems(409, *KEYED),
    )
    async def start(self, backend: NamedDependency[Backend]) -> RebuildStatus:
        """The views are swapped in when it is done; follow it with GET /admin/rebuild."""
        if not backend.rebuilding.start():
            raise ClientException(status_code=409, detail="a rebuild is already running")
        return backend.rebuilding.status

    @get(summary="The last rebuild started here", responses=problems(*KEYED))
    async def status(self, backend: NamedDependency[Backend]) -> RebuildStatus:
        return backend.rebuilding.status


@get("/", summary="The web console's address", include_in_schema=False)
async def home() -> Redirect:
    """The root leads to the console (a browser opening the server's address lands there)."""
    return Redirect("/ui/", status_code=302)


@get("/health/live", summary="The process is up")
async def health_live() -> dict[str, str]:
    return {"status": "live"}


@get(
    "/health/ready",
    summary="The store and the writer answer; how far the views lag behind the events",
    **for_roles(*ANY_ROLE),
)
async def health_ready(backend: NamedDependency[Backend]) -> Readiness:
    await backend.writer_ready()
    return await backend.read(queries.readiness, backend.projector)


class Metrics(PrometheusController):
    """Litestar's Prometheus exporter, behind an admin key unless TRACKER_METRICS_OPEN."""

    guards = [metrics_guard]  # noqa: RUF012 (Litestar's Controller declares it this way)

    @get(
        summary="Prometheus metrics",
        security=API_KEY,
        responses=problems(401, 403),
        operation_class=MetricsOperation,
    )
    async def get(self, backend: NamedDependency[Backend]) -> Response:
        """The views' lag, the overdue messages, the audit tree's heads, the forwarding
        endpoints' rows and the breakdowns by sender and campaign are read at each scrape: the
        projector may be another process, and overdue depends on the time now."""
        with suppress(HTTPException):  # an unavailable store: the last figures stand
            metrics.set_lag(*await backend.read(backend.projector.lag))
            cut = queries.overdue_cut(backend.clock()["now"], backend.overdue_after)
            metrics.set_overdue(await backend.read(backend.views.count_overdue, cut))
            metrics.set_audit(await backend.read(backend.audit.heads))
            if backend.forward_urls:
                metrics.set_forwarding(await backend.read(backend.forwarding_status))
            await backend.read(group_metrics.refresh, backend.views, backend.metrics_groups)
        body, content_type = group_metrics.exposition()
        return Response(body, headers={"Content-Type": content_type})


def instant_param(**kwargs: Any) -> Any:
    """A query parameter holding an ISO 8601 instant, parsed strictly by ``_instant``."""
    return QueryParameter(**kwargs, schema_extra={"format": "date-time"})


def _instant(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 date or date-time, as a UTC instant (UTC if naive); anything else (a bare
    number, say, or an instant past the calendar's ends in UTC) is a 400 naming the parameter."""
    if text is None:
        return None
    with _as_400():
        return queries.utc_instant(name, text, "an ISO 8601 instant (e.g. 2024-05-01T10:00:00Z)")


def _known_state(state: str | None) -> str | None:
    """A state to filter on: one the platform sends, or '' for messages with none known."""
    with _as_400():
        return queries.state_filter(state)


@contextmanager
def _as_400() -> Iterator[None]:
    """A cursor or a filter the query cannot take: a 400 saying why."""
    try:
        yield
    except (queries.BadCursor, queries.BadFilter) as e:
        raise ClientException(detail=str(e)) from None


def _linked(read: Callable[[], MessageHistory | None], backend: Backend) -> MessageHistory | None:
    """A history with the requests that carried each report (the request log's, when on)."""
    store = backend.requests.store if backend.requests is not None else None
    return requests.linked(read(), store)


def _encoded(read: Callable[[], T]) -> tuple[T, bytes]:
    """An answer and its JSON, both made in the caller's (worker) thread."""
    value = read()
    return value, msgspec.json.encode(value)


ROUTES = [
    list_messages,
    message_state,
    message_history,
    message_report,
    stats,
    quarantine,
    quarantined_item,
    export_rows,
    Rebuilds,
    home,
    health_live,
    health_ready,
    Metrics,
]
