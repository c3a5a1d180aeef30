"""The console's pages made: who sees which, templates rendered in a thread, errors, filters."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.enums import MediaType
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.template.config import TemplateConfig

from tracker.web.access import ADMIN, ANALYST, AUDITOR, Access, Guard, article
from tracker.web.chart import NOTHING, duration

log = logging.getLogger("tracker")

WEB = Path(__file__).parent.parent  # templates/ and static/
COOKIE = "tracker_console_key"

# Sent with every page: no script may run, nothing is loaded from another origin, no framing.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def viewer_role(connection: ASGIConnection) -> str | None:
    """The role of the key in the console's cookie (or in the request's headers, as the API
    takes it); every page is open, as admin, while no keys are configured."""
    access: Access = connection.app.state.access
    if not access.keys_required:
        return ADMIN
    return access.role_of(connection) or access.role_for_key(connection.cookies.get(COOKIE))


def may(role: str | None, *roles: str) -> bool:
    return role is not None and (role == ADMIN or role in roles)


def sees(*roles: str) -> Guard:
    """A guard for a page these roles (and admin) may see: 401 without a key, 403 with another."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        role = viewer_role(connection)
        if role is None:
            raise NotAuthorizedException(detail="this console needs an API key")
        if not may(role, *roles):
            needed = " or ".join(sorted({*roles, ADMIN}))
            raise PermissionDeniedException(
                detail=f"{article(role)} {role} key may not see this page; it needs an {needed} key"
            )

    return guard


async def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """The page made in a worker thread: a long timeline or quarantine page takes a while to
    render, and meanwhile the event loop answers everyone else (/health/live among them)."""
    render = partial(_render, request.app.template_engine, template, _context(request, context))
    html = await anyio.to_thread.run_sync(render)
    return Response(html, status_code=status_code, media_type=MediaType.HTML, headers=HEADERS)


def _context(request: Request, context: dict[str, Any]) -> dict[str, Any]:
    role = viewer_role(request)
    return {
        "role": role,
        "keys_required": request.app.state.access.keys_required,
        "path": request.url.path,
        "may": partial(may, role),
        "ANALYST": ANALYST,
        "AUDITOR": AUDITOR,
        **context,
    }


def _render(engine: JinjaTemplateEngine, template: str, context: dict[str, Any]) -> str:
    return engine.get_template(template).render(**context)


def error_page(request: Request, exc: Exception) -> Response:
    """Errors on the console are pages too; without a key, the way to the login form."""
    if isinstance(exc, NotAuthorizedException):
        path = request.url.path if request.url.path != "/ui" else "/ui/"
        target = path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/ui/login?next={quote(target)}", status_code=303)
    if isinstance(exc, HTTPException):
        status, detail = exc.status_code, exc.detail
    else:
        log.exception("console page failed: %s", request.url.path)
        status, detail = 500, "the page could not be made; the server log says why"
    context = _context(request, {"status": status, "detail": detail})
    html = _render(request.app.template_engine, "error.html", context)  # short: made right here
    return Response(html, status_code=status, media_type=MediaType.HTML, headers=HEADERS)


def when(moment: datetime | None) -> str:
    """An instant in UTC to the millisecond, as an auditor compares them."""
    if moment is None:
        return NOTHING
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def platform_time(time: str | None, instant: datetime | None, zone: tzinfo) -> str:
    """A status time as the platform sent it, on its clock, with the zone it was read in (the
    contract's Moscow unless TRACKER_TIMEZONE says otherwise)."""
    if time is None:
        return NOTHING
    if not time:
        return "(no time)"
    if instant is None:  # not a time the rules can read: as sent
        return time
    local = instant.astimezone(zone)
    if local.strftime("%Y-%m-%d %H:%M:%S") == time:
        return f"{time} {local.tzname()}"
    # read in another zone (the setting changed since), or a time a clock shift skipped
    return f"{time} (read as {when(instant)})"


def percent(share: float | None) -> str:
    return NOTHING if share is None else f"{100 * share:.1f} %"


def _filters(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters.update(
        when=when, duration=duration, percent=percent, platform_time=platform_time
    )


TEMPLATES = TemplateConfig(
    directory=WEB / "templates", engine=JinjaTemplateEngine, engine_callback=_filters
)
