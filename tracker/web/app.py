"""The Litestar application: ``create_app(tracker, views, settings)``, and the factory that
``tracker serve`` runs in each worker."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

import anyio
import msgspec
from litestar import Controller, Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotFoundException,
    ValidationException,
)
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath, FromQuery, Parameter, QueryParameter
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.response import Redirect, Stream

from tracker.application import Batch, Tracker
from tracker.bootstrap import open_tracker, open_views, settle_heap, store_for
from tracker.config import Settings
from tracker.read import export, queries
from tracker.read.models import (
    NO_KNOWN_STATE,
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
from tracker.views.store import ViewStore
from tracker.web import access_log, console, metrics
from tracker.web.access import (
    ADMIN,
    ANALYST,
    ANY_ROLE,
    AUDITOR,
    Access,
    metrics_guard,
    requires,
    webhook_guard,
)
from tracker.web.access_log import AccessLog
from tracker.web.intake import BodyError, read_body, read_items, read_plain
from tracker.web.openapi import (
    API_KEY,
    COMPONENTS,
    KEYED,
    ExportOperation,
    MetricsOperation,
    WebhookOperation,
    problems,
    renderers,
    schema_router,
)
from tracker.web.params import id_sms_number, position_number
from tracker.web.store import Store
from tracker.writer_process import WRITER_SOCKET

log = logging.getLogger("tracker")
T = TypeVar("T")


def for_roles(*roles: str, errors: tuple[int, ...] = ()) -> dict[str, Any]:
    """Route options for an endpoint behind API keys: the guard letting these roles (and admin)
    through, and the OpenAPI security and error answers that come with it."""
    return {
        "guards": [requires(*roles)],
        "security": API_KEY,
        "responses": problems(*errors, *KEYED),
    }


WEBHOOK_SUMMARY = "Receive a batch of delivery statuses"


@post(
    "/webhooks/webcom",
    status_code=200,
    summary=WEBHOOK_SUMMARY,
    guards=[webhook_guard],
    operation_class=WebhookOperation,
    responses=problems(400, 403, 408, 413, 503),
)
async def webhook(request: Request, store: NamedDependency[Store]) -> Response[bytes]:
    """Store every status of the batch, then answer with the ids that are durably stored.

    The body is read whatever its content type. Items whose ``id_sms`` names no message are
    quarantined; a body that is not a JSON array gets 400 and acknowledges nothing.
    """
    return await _receive(request, store)


@post(
    "/webhooks/webcom/{token:str}",
    status_code=200,
    summary=WEBHOOK_SUMMARY,
    guards=[webhook_guard],
    operation_class=WebhookOperation,
    responses=problems(400, 403, 404, 408, 413, 503),
)
async def webhook_with_token(
    token: FromPath[str], request: Request, store: NamedDependency[Store]
) -> Response[bytes]:
    """The webhook when TRACKER_WEBHOOK_TOKENS is set: a wrong token is 404, nothing stored."""
    return await _receive(request, store)


async def _receive(request: Request, store: Store) -> Response[bytes]:
    body = await request.body()
    try:
        # The documented form is read in one typed pass, here unless the body is large; any
        # other body item by item in a worker thread, however small (a 64 KB body of odd items
        # once held the event loop for 50-80 ms, every other request waiting).
        small = len(body) < 65536
        intake = read_plain(body) if small else None
        if intake is None:
            intake = await anyio.to_thread.run_sync(read_items if small else read_body, body)
    except BodyError as e:
        await store.record(Batch((), (e.quarantine,)))
        metrics.count_quarantined_body()
        raise ClientException(detail=e.problem) from None
    receipt = await store.record(Batch(tuple(intake.statuses), tuple(intake.unusable)))
    if intake.unusable:
        log.warning("quarantined %d item(s) without a usable id_sms", len(intake.unusable))
    answer = intake.acknowledgement(receipt.stored)
    metrics.count_receipt(receipt, len(answer))
    return _json(answer)


@get(
    "/messages",
    summary="A page of messages from the messages view, filtered",
    **for_roles(ANALYST),
)
async def list_messages(
    store: NamedDependency[Store],
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
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Parameter(description="The `next` of the previous page.")] = None,
) -> MessagePage:
    """Ordered by id_sms; the cursor pages through without repeating or skipping a message."""
    try:
        return await store.read(
            partial(
                queries.list_messages,
                store.views,
                cursor=cursor,
                limit=limit,
                state=_known_state(in_state),
                final=final,
                conflict=conflict,
                received_from=_instant("received_from", received_from),
                received_to=_instant("received_to", received_to),
            )
        )
    except queries.BadCursor as e:
        raise ClientException(detail=str(e)) from None


@get(
    "/messages/{id_sms:str}",
    summary="A message as it stands, in the shape the list gives",
    **for_roles(ANALYST, errors=(400, 404)),
)
async def message_state(id_sms: FromPath[str], store: NamedDependency[Store]) -> MessageSummary:
    """From the messages view, or from the event store while the view has not yet taken in
    the message's last event: a status acknowledged is shown at once."""
    number = id_sms_number(id_sms)
    found = await store.read(queries.message, store.tracker, store.views, number)
    if found is None:
        raise NotFoundException(detail=f"no status was received for id_sms {number}")
    return found


@get(
    "/messages/{id_sms:str}/history",
    summary="Every report of a message, in arrival order",
    **for_roles(AUDITOR, errors=(400, 404)),
)
async def message_history(
    id_sms: FromPath[str],
    store: NamedDependency[Store],
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
    try:  # encoded in the worker thread too: a page may be megabytes of JSON
        history, encoded = await store.read(
            _encoded,
            partial(queries.history, store.tracker, number, moment, cursor=cursor, limit=limit),
        )
    except queries.BadCursor as e:
        raise ClientException(detail=str(e)) from None
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
    id_sms: FromPath[str], position: FromPath[str], store: NamedDependency[Store]
) -> ReportRecord:
    """The report at this position of the history (0: the first), as a history page gives
    it, but with its raw item whole."""
    number = id_sms_number(id_sms)
    report = await store.read(queries.report_at, store.tracker, number, position_number(position))
    if report is None:
        raise NotFoundException(detail=f"id_sms {number} has no report at position {position}")
    return report


@get(
    "/quarantine",
    summary="Input that named no message, most recently received first",
    **for_roles(AUDITOR),
)
async def quarantine(
    store: NamedDependency[Store],
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Parameter(description="The `next` of the previous page.")] = None,
) -> Quarantine:
    """Each item's raw text is cut to its first 4,096 characters (``truncated`` says so);
    GET /quarantine/{id} gives one item whole."""
    try:
        return await store.read(queries.quarantine, store.views, limit, cursor)
    except queries.BadCursor as e:
        raise ClientException(detail=str(e)) from None


@get(
    "/quarantine/{item_id:str}",
    summary="One quarantined item, its raw text whole",
    **for_roles(AUDITOR, errors=(404,)),
)
async def quarantined_item(
    item_id: FromPath[str], store: NamedDependency[Store]
) -> QuarantinedItem:
    found = await store.read(queries.quarantined_item, store.views, item_id)
    if found is None:
        raise NotFoundException(detail=f"no quarantined item has the id {item_id[:40]!r}")
    return found


@get(
    "/stats",
    summary="Counts by state, final share, conflicts, delivery-time percentiles",
    **for_roles(ANALYST),
)
async def stats(
    store: NamedDependency[Store],
    days: Annotated[int, Parameter(ge=1, le=366, description="Days of per-day figures.")] = 31,
) -> Stats:
    """From the views: state_counts, messages (conflicts) and delivery_times."""
    return await store.read(queries.stats, store.views, days)


@get(
    "/export/{kind:str}",
    summary="The messages view or every report, streamed as CSV or JSON Lines",
    **for_roles(ANALYST, errors=(400,)),
    operation_class=ExportOperation,
)
async def export_rows(
    kind: Annotated[Literal["messages", "reports"], Parameter(description="What to export.")],
    store: NamedDependency[Store],
    format: Annotated[Literal["csv", "jsonl"], Parameter(description="csv or jsonl.")] = "csv",
) -> Stream:
    """Streamed page by page (memory stays flat); `tracker export` also writes Parquet."""
    rows, fields = (
        (export.message_rows(store.views), export.MESSAGE_FIELDS)
        if kind == "messages"
        else (export.report_rows(store.tracker), export.REPORT_FIELDS)
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
    async def start(self, store: NamedDependency[Store]) -> RebuildStatus:
        """The views are swapped in when it is done; follow it with GET /admin/rebuild."""
        if not store.rebuilding.start():
            raise HTTPException(status_code=409, detail="a rebuild is already running")
        return store.rebuilding.status

    @get(summary="The last rebuild started here", responses=problems(*KEYED))
    async def status(self, store: NamedDependency[Store]) -> RebuildStatus:
        return store.rebuilding.status


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
async def health_ready(store: NamedDependency[Store]) -> Readiness:
    await store.writer_ready()
    return await store.read(queries.readiness, store.projector)


class Metrics(PrometheusController):
    """Litestar's Prometheus exporter, behind an admin key unless TRACKER_METRICS_OPEN."""

    guards = [metrics_guard]  # noqa: RUF012 (Litestar's Controller declares it this way)

    @get(
        summary="Prometheus metrics",
        security=API_KEY,
        responses=problems(401, 403),
        operation_class=MetricsOperation,
    )
    async def get(self, store: NamedDependency[Store]) -> Response:
        """The views' lag is read at each scrape: the projector may be another process."""
        with suppress(HTTPException):  # an unavailable store: the last figures stand
            metrics.set_lag(*await store.read(store.projector.lag))
        return await PrometheusController.get.fn(self)


def instant_param(**kwargs: Any) -> Any:
    """A query parameter holding an ISO 8601 instant, parsed strictly by ``_instant``."""
    return QueryParameter(**kwargs, schema_extra={"format": "date-time"})


def _instant(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 date or date-time, as a UTC instant (UTC if naive); anything else (a bare
    number, say, or an instant past the calendar's ends in UTC) is a 400 naming the parameter."""
    if text is None:
        return None
    try:
        return queries.utc_instant(name, text, "an ISO 8601 instant (e.g. 2024-05-01T10:00:00Z)")
    except queries.BadFilter as e:
        raise ClientException(detail=str(e)) from None


def _known_state(state: str | None) -> str | None:
    """A state to filter on: one the platform sends, or '' for messages with none known."""
    try:
        return queries.state_filter(state)
    except queries.BadFilter as e:
        raise ClientException(detail=str(e)) from None


def _no_nul(request: Request) -> None:
    """Before any handler: a NUL character in a query parameter is a 400 naming it (a database
    cannot hold one in text: PostgreSQL refused it as an error of the store)."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:
            raise ClientException(detail=f"{name[:40]}: a NUL character is not allowed")


def _validation_problem(request: Request, exc: ValidationException) -> Response:
    """A parameter that fails validation: 400 naming each parameter as the request wrote it."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    named = [
        f"{p.get('key')}: {p.get('message')}"
        for p in problems
        if isinstance(p, dict) and p.get("key")
    ]
    return Response(
        {"status_code": 400, "detail": "; ".join(named) or exc.detail, "extra": exc.extra},
        status_code=400,
        media_type="application/json",
    )


# Seconds a thread holds the interpreter before another may take it (Python's default: 0.005).
# A read that folds a long history in a worker thread made the event loop's thread wait 5 ms
# at each step of every other request: /health/live's median went from 2 to 21 ms (measured).
SWITCH_INTERVAL = 0.001


def _address(host: str, port: int) -> str:
    """The server's base URL as a user would type it (a wildcard host: this machine's name)."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _encoded(read: Callable[[], T]) -> tuple[T, bytes]:
    """An answer and its JSON, both made in the caller's (worker) thread."""
    value = read()
    return value, msgspec.json.encode(value)


def _json(value: object) -> Response[bytes]:
    return Response(msgspec.json.encode(value), media_type="application/json")


def create_app(
    tracker: Tracker, views: ViewStore, settings: Settings, writer_socket: str | None = None
) -> Litestar:
    """The HTTP application around a built Tracker and its views; it owns both from here on.
    With ``writer_socket``, batches are committed by the writer process listening there."""
    store = Store(tracker, views, settings, writer_socket)
    access = Access(settings)
    access_log.configure()

    def provide_store() -> Store:
        return store

    def announce() -> None:
        log.info("events stored in %s", store_for(settings).description)
        base = _address(settings.host, settings.port)
        log.info("web console at %s/ui/, API documentation at %s/schema", base, base)
        if settings.tokens:
            log.info(
                "webhook at %s/webhooks/webcom/<token> for %d token(s)", base, len(settings.tokens)
            )
        else:
            log.info("webhook at %s/webhooks/webcom", base)
            log.warning(
                "the webhook at /webhooks/webcom is open to anyone who can reach %s:%s; set "
                "TRACKER_WEBHOOK_TOKENS to serve it only at /webhooks/webcom/<token>",
                settings.host,
                settings.port,
            )
        if settings.allowed_networks:
            log.info("webhook senders allowed from: %s", settings.webhook_allow)
        if access.keys_required:
            log.info("read API and console: API keys needed (%d configured)", len(settings.keys))
        else:
            log.warning(
                "the read API and the console (/ui/) are open to anyone who can reach %s:%s; "
                "set TRACKER_API_KEYS (ROLE:KEY pairs, roles auditor, analyst, admin) to "
                "require keys",
                settings.host,
                settings.port,
            )

    return Litestar(
        route_handlers=[
            webhook_with_token if settings.tokens else webhook,
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
            console.ROUTER,
            console.STATIC,
        ],
        middleware=[
            AccessLog,
            PrometheusConfig(app_name="tracker", group_path=True, exclude=["/metrics"]).middleware,
        ],
        dependencies={"store": Provide(provide_store, sync_to_thread=False)},
        before_request=_no_nul,
        exception_handlers={ValidationException: _validation_problem},
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="tracker",
            version="0.1.0",
            components=COMPONENTS,
            use_handler_docstrings=True,
            render_plugins=renderers(),  # a page of our own: no script, nothing from a CDN
            openapi_router=schema_router(console.HEADERS),
        ),
        template_config=console.TEMPLATES,
        # An unexpected error (a 500) is logged with its traceback, in production too; the
        # answers the API means to give (4xx) and an unavailable store (logged once by the
        # store) are not.
        logging_config=LoggingConfig(
            log_exceptions="always", disable_stack_trace={*range(400, 500), 503}
        ),
        on_startup=[announce, store.start, settle_heap],
        state=State({"access": access}),
        on_shutdown=[store.close],
    )


def app_from_env() -> Litestar:
    """The factory the ASGI server calls in each worker: settings from the environment."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    settings = Settings.from_env()
    tracker = open_tracker(settings)
    views = open_views(tracker, create=settings.create_tables)
    return create_app(tracker, views, settings, os.environ.get(WRITER_SOCKET) or None)
