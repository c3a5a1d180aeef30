"""The Litestar app: create_app(parts, settings); app_from_env for each `tracker serve` worker."""

from __future__ import annotations

import logging
import socket
import sys
from functools import partial

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import ClientException, ValidationException
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusConfig

from tracker.bootstrap import ServerParts, open_server, settle_heap, store_for
from tracker.config import Settings
from tracker.web import (
    access_log,
    api,
    audit_api,
    changes_api,
    console,
    forwarding_api,
    ingest,
    metrics,
    registration,
    requests_api,
)
from tracker.web.access import Access
from tracker.web.access_log import AccessLog
from tracker.web.api_page import renderers, schema_router
from tracker.web.backend import Backend
from tracker.web.console.render import HEADERS, TEMPLATES
from tracker.web.openapi import COMPONENTS
from tracker.web.request_log import RequestRecorder

log = logging.getLogger("tracker")


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


def announce(settings: Settings, access: Access) -> None:
    """At start-up: where the events are, the server's addresses, and what is open to whom."""
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
        log.info(
            "read API, console and POST /messages/sent: API keys needed (%d configured)",
            len(settings.keys),
        )
    else:
        log.warning(
            "the read API, the console (/ui/) and the registration of what was sent (POST "
            "/messages/sent) are open to anyone who can reach %s:%s; set TRACKER_API_KEYS "
            "(ROLE:KEY pairs, roles auditor, analyst, admin, sender) to require keys",
            settings.host,
            settings.port,
        )


def create_app(parts: ServerParts, settings: Settings) -> Litestar:
    """The HTTP application around the parts ``bootstrap.server_parts`` built; it owns them
    from here on."""
    backend = Backend(
        parts,
        settings.store_threads,
        settings.overdue_age,
        settings.forward_urls,
        metrics_groups=settings.metrics_groups,
    )
    access = Access(settings)
    access_log.configure()

    def provide_backend() -> Backend:
        return backend

    app = Litestar(
        route_handlers=[
            ingest.webhook_with_token if settings.tokens else ingest.webhook,
            registration.register_sent,
            *api.ROUTES,
            *audit_api.ROUTES,
            *changes_api.ROUTES,
            forwarding_api.forwarding,
            *requests_api.ROUTES,
            console.ROUTER,
            console.STATIC,
        ],
        middleware=[
            AccessLog,
            PrometheusConfig(app_name="tracker", group_path=True, exclude=["/metrics"]).middleware,
        ],
        dependencies={"backend": Provide(provide_backend, sync_to_thread=False)},
        before_request=_no_nul,
        exception_handlers={ValidationException: _validation_problem},
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="tracker",
            version="0.1.0",
            components=COMPONENTS,
            use_handler_docstrings=True,
            render_plugins=renderers(),  # a page of our own: no script, nothing from a CDN
            openapi_router=schema_router(HEADERS),
        ),
        template_config=TEMPLATES,
        # An unexpected error (a 500) is logged with its traceback, in production too; the
        # answers the API means to give (4xx) and an unavailable store (logged once by the
        # store) are not.
        logging_config=LoggingConfig(
            log_exceptions="always", disable_stack_trace={*range(400, 500), 503}
        ),
        on_startup=[partial(announce, settings, access), backend.start, settle_heap],
        state=State({"access": access, "feed": changes_api.Feed(settings.streams)}),
        on_shutdown=[backend.close],
    )
    _record_requests(app, parts, access, settings)
    return app


def _record_requests(app: Litestar, parts: ServerParts, access: Access, settings: Settings) -> None:
    """The request log's middleware around the whole app, not a route's: a POST to a webhook
    path that no route serves (no token, with TRACKER_WEBHOOK_TOKENS set) is recorded too."""
    if parts.requests is not None:
        parts.requests.on_dropped = metrics.count_request_log_dropped
        app.asgi_handler = RequestRecorder(
            app.asgi_handler, parts.requests, access, settings.max_body_bytes
        )


def app_from_env() -> Litestar:
    """The factory the ASGI server calls in each worker: settings from the environment."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    settings = Settings.from_env()
    return create_app(open_server(settings, on_lag=metrics.set_lag), settings)
