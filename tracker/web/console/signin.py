"""Signing in to the console (a key kept in a cookie) and out, from its own pages only."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import msgspec
from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, FromQuery
from litestar.response import Redirect

from tracker.web.access import Access
from tracker.web.console.render import COOKIE, page


async def same_origin(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Sign-in and sign-out are posted from the console's own pages only: a POST whose Origin
    (or, without one, Referer) names another site is refused with 403, so no other site can sign
    a visitor in with its own key, or out. Same origin is the scheme, host and port the browser
    used: the Host header (or a proxy's X-Forwarded-Host) and the scheme the server saw (or a
    proxy's X-Forwarded-Proto); a browser cannot set those on a request another site makes.

    A POST with neither header is let through: every current browser sends Origin with a POST
    from another site (and the cookie is SameSite=Strict besides), so such a request comes
    from a program, as curl, and not from a page elsewhere. docs/console.md says so."""
    sent = connection.headers.get("origin") or connection.headers.get("referer")
    if sent is None:
        return
    if _origin(sent) not in _own_origins(connection):  # None ("null", unreadable) never is
        raise PermissionDeniedException(
            detail=f"a form from another site ({sent[:80]}) may not sign in or out of this "
            "console; use the console's own sign-in page"
        )


def _origin(url: str) -> tuple[str, str, int] | None:
    """The (scheme, host, port) of an Origin or Referer; None for "null" or anything unreadable."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def _own_origins(connection: ASGIConnection) -> set[tuple[str, str, int]]:
    hosts = {connection.headers.get("host"), _first(connection.headers.get("x-forwarded-host"))}
    schemes = {connection.url.scheme, _first(connection.headers.get("x-forwarded-proto"))}
    origins = {_origin(f"{s}://{h}") for s in schemes if s for h in hosts if h}
    return {o for o in origins if o is not None}


def _first(header: str | None) -> str | None:
    """The first value of a proxy's comma-separated header (the one nearest the browser)."""
    return header.split(",")[0].strip().lower() or None if header else None


class SignIn(msgspec.Struct):
    key: str = ""
    next: str = "/ui/"


@get("/login")
async def login_form(request: Request, next: FromQuery[str] = "/ui/") -> Response:
    return await page(request, "login.html", next=_within_console(next), error=None)


@post("/login", status_code=303, guards=[same_origin])
async def login(
    request: Request,
    data: Annotated[SignIn, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response:
    """A known key is kept in an HttpOnly, SameSite=Strict cookie scoped to /ui."""
    access: Access = request.app.state.access
    target = _within_console(data.next)
    if access.role_for_key(data.key.strip()) is None:
        return await page(
            request,
            "login.html",
            status_code=401,
            next=target,
            error="That is not one of the configured API keys.",
        )
    return Redirect(
        target,
        status_code=303,
        cookies=[
            Cookie(
                key=COOKIE,
                value=data.key.strip(),
                path="/ui",
                httponly=True,
                samesite="strict",
                secure=_over_tls(request),
            )
        ],
    )


@post("/logout", status_code=303, guards=[same_origin])
async def logout() -> Response:
    return Redirect(
        "/ui/login",
        status_code=303,
        cookies=[Cookie(key=COOKIE, value="", path="/ui", max_age=0, httponly=True)],
    )


def _over_tls(request: Request) -> bool:
    """Whether the browser reached us over TLS, directly or through a proxy that says so. Only
    the cookie's Secure flag hangs on it: a client lying here just loses its own sign-in."""
    return "https" in (request.url.scheme, _first(request.headers.get("x-forwarded-proto")))


def _within_console(target: str) -> str:
    """Only a path of this console: the login form never sends anyone elsewhere."""
    return target if target.startswith("/ui/") and not target.startswith("/ui//") else "/ui/"
