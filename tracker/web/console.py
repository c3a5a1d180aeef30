"""The web console at /ui/: read-only HTML pages for auditors and analysts, rendered on the server
from the same queries as the JSON API, with no script and nothing loaded from elsewhere."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

import anyio
import msgspec
from litestar import Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader, Cookie
from litestar.di import NamedDependency
from litestar.enums import MediaType, RequestEncodingType
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from tracker.application import Tracker
from tracker.domain.status import (
    APPLIED,
    FINAL_STATES,
    REJECTED,
    SUPERSEDED,
    UNKNOWN_STATE,
    Report,
    arrived_late,
    fold,
    states_after,
)
from tracker.read import queries
from tracker.read.models import MessageHistory, MessageSummary, ReportRecord
from tracker.web.access import ADMIN, ANALYST, AUDITOR, Access, Guard
from tracker.web.chart import NOTHING, delivery_chart, duration
from tracker.web.params import id_sms_number, position_number
from tracker.web.store import Store

log = logging.getLogger("tracker")

HERE = Path(__file__).parent
COOKIE = "tracker_console_key"
PAGE_SIZE = 50
STATES = queries.STATES
NO_STATE = "-"  # the list filter for messages with no known state yet

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

# What each report did when it arrived, as its event records it (docs/state-machine.md).
OUTCOMES = {
    APPLIED: "on arrival it set the message's state (a report that arrived later may have "
    "overridden it since: its effect now says)",
    SUPERSEDED: "on arrival it left the state as it was: a report of equal or higher rank stood "
    "at or before its time",
    REJECTED: "on arrival it came after a final state (an illegal transition), or a value of its "
    "item could not be read (the reason says which): kept, never applied",
    UNKNOWN_STATE: "its state is not one the rules know: kept, never applied",
}


# --- who sees what -----------------------------------------------------------------------------


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
                detail=f"an {role} key may not see this page; it needs an {needed} key"
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


def _error_page(request: Request, exc: Exception) -> Response:
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


# --- pages ---------------------------------------------------------------------------------------


@get("/", guards=[sees(ANALYST, AUDITOR)])
async def overview(request: Request, store: NamedDependency[Store]) -> Response:
    """Counts by state, final share, conflicts, delivery times per day, the projection's lag."""
    readiness = await store.read(queries.readiness, store.projector)
    if not may(viewer_role(request), ANALYST):  # an auditor: the lag, the lookup, the quarantine
        return await page(request, "overview.html", stats=None, lag=readiness.projection)
    stats = await store.read(queries.stats, store.views, 31)
    top = max((s.messages for s in stats.states), default=0)
    return await page(
        request,
        "overview.html",
        stats=stats,
        lag=readiness.projection,
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
    store: NamedDependency[Store],
    id_sms: FromQuery[str] = "",
    in_state: Annotated[str, QueryParameter(name="state")] = "",
    final: FromQuery[str] = "",
    conflict: FromQuery[str] = "",
    received_from: FromQuery[str] = "",
    received_to: FromQuery[str] = "",
    cursor: FromQuery[str] = "",
    trail: FromQuery[str] = "",
) -> Response:
    """The messages view, filtered and paged; every filter is a plain query parameter."""
    chosen = {
        "id_sms": id_sms.strip(),
        "state": in_state,
        "final": final,
        "conflict": conflict,
        "received_from": received_from.strip(),
        "received_to": received_to.strip(),
    }
    context: dict[str, Any] = {
        "filters": chosen,
        "states": STATES,
        "NO_STATE": NO_STATE,
        "zone": store.tracker.local_zone,
    }
    try:
        if chosen["id_sms"]:
            found = await store.read(
                queries.message, store.tracker, store.views, id_sms_number(chosen["id_sms"])
            )
            rows: list[MessageSummary] = [found] if found else []
            after = None
        else:
            result = await store.read(
                partial(
                    queries.list_messages,
                    store.views,
                    cursor=cursor or None,
                    limit=PAGE_SIZE,
                    state=queries.state_filter(in_state or None, none_known=NO_STATE),
                    final=_yes_no("final", final),
                    conflict=_yes_no("conflict", conflict),
                    received_from=_instant("received from", chosen["received_from"]),
                    received_to=_instant("received to", chosen["received_to"]),
                )
            )
            rows, after = result.messages, result.next
    except (_BadFilter, queries.BadCursor) as e:
        return await page(request, "messages.html", 400, rows=[], error=str(e), **context)
    kept = {k: v for k, v in chosen.items() if v}
    return await page(
        request,
        "messages.html",
        rows=rows,
        pages=Pager.of("/ui/messages", kept, cursor, trail, after),
        **context,
    )


# What each report does to the state now, beside its outcome on arrival (which never changes):
SETS = "sets"
OVERRIDDEN = "overridden"
FOLLOWS_FINAL = "follows_final"
NOT_FOLDED = "not_folded"
EFFECTS = {
    SETS: ("sets the state", "it is the report that sets the message's state now"),
    OVERRIDDEN: (
        "overridden",
        "another report sets the state now: one of higher rank, or of equal rank at an earlier "
        "status time",
    ),
    FOLLOWS_FINAL: (
        "follows the final state",
        "its status time is after the final state's, so the rules reject it: the message is "
        "a conflict",
    ),
    NOT_FOLDED: (
        "never applied",
        "its state is not one the rules know, or a value of its item could not be read",
    ),
}


def effect_now(report: Report, current: Report | None) -> str:
    """What ``report`` does to the state now, given ``current``, the report that sets it (the
    fold of all of them): sets it, is overridden, or follows the final state (a conflict)."""
    if report.rank is None or current is None:
        return NOT_FOLDED
    if report.identity == current.identity:
        return SETS
    if current.final and current.order < report.order:  # the current is the earliest final
        return FOLLOWS_FINAL
    return OVERRIDDEN


@dataclass(frozen=True)
class Line:
    """One report on the timeline: as stored, with its arrival number, the state it left, and
    what it does to the state now."""

    number: int  # its place in arrival order, from 1
    report: ReportRecord
    late: bool  # it arrived after a report whose status time is later than its own
    state: str | None  # the state after it: in arrival order, or as of its status time
    effect: str  # one of EFFECTS


@dataclass(frozen=True)
class Timeline:
    arrivals: list[Line]
    by_time: list[Line]
    current: Line | None  # the report that sets the state now
    conflicts: list[Line]  # the reports that follow the final state, in arrival order
    receipts: int  # times its reports were received, repeats included

    @classmethod
    def of(cls, history: MessageHistory) -> Timeline:
        records = history.reports
        reports = [Report(r.state, r.time, r.instant, r.reason) for r in records]
        current = fold(reports)
        effects = [effect_now(r, current) for r in reports]
        late = arrived_late(reports)
        order = sorted(range(len(reports)), key=lambda i: (reports[i].order, i))
        as_of_time = states_after(reports[i] for i in order)
        arrivals = [
            Line(i + 1, record, late[i], record.state_after, effects[i])
            for i, record in enumerate(records)
        ]
        return cls(
            arrivals=arrivals,
            by_time=[
                Line(i + 1, records[i], late[i], then.state if then else None, effects[i])
                for i, then in zip(order, as_of_time, strict=True)
            ],
            current=next((line for line in arrivals if line.effect == SETS), None),
            conflicts=[line for line in arrivals if line.effect == FOLLOWS_FINAL],
            receipts=sum(r.deliveries for r in records),
        )


def _timeline(tracker: Tracker, id_sms: int) -> tuple[MessageHistory | None, Timeline | None]:
    """The whole history and its timeline, made together in a worker thread. A page shows a
    window of it, but what each report does now, whether it arrived late, the status-time
    order and the conflict's reports all depend on every report of the message."""
    history = queries.history(tracker, id_sms, limit=None)
    return history, Timeline.of(history) if history else None


TIMELINE_PAGE = (200, 2000)  # reports a table shows: by default, at most
CONFLICTS_LISTED = 20  # on the conflict card; the rest are counted


@dataclass(frozen=True)
class Window:
    """The reports one table of the timeline shows, and the links to its other pages."""

    start: int  # the first shown, counted from 0
    end: int  # one past the last shown
    total: int
    first: str | None
    previous: str | None
    next: str | None


class TimelinePages:
    """The timeline's two tables page independently, each by its offset in the address:
    ``?arrivals=`` (arrival order) and ``?by_time=`` (status-time order), ``limit`` a page."""

    def __init__(self, path: str, total: int, arrivals: str, by_time: str, limit: str) -> None:
        self.path, self.total = path, total
        self.limit = _page_size(limit, *TIMELINE_PAGE)
        self.kept = {"limit": limit} if limit else {}
        self.at = {"arrivals": _offset(arrivals), "by_time": _offset(by_time)}

    def href(self, **at: int) -> str:
        where = {**self.kept, **{k: str(v) for k, v in {**self.at, **at}.items() if v}}
        return f"{self.path}?{urlencode(where)}" if where else self.path

    def window(self, table: str) -> Window:
        start = min(self.at[table], max(0, self.total - 1))
        end = min(self.total, start + self.limit)
        back = max(0, start - self.limit)
        return Window(
            start,
            end,
            self.total,
            first=self.href(**{table: 0}) if start else None,
            previous=self.href(**{table: back}) if start else None,
            next=self.href(**{table: end}) if end < self.total else None,
        )

    def report_href(self, number: int, here: bool = True) -> str:
        """Where the arrival table shows report ``number`` (from 1), on whichever page: only
        its anchor when it is on this page (and ``here`` says the link is on this page)."""
        start = (number - 1) // self.limit * self.limit
        shown = self.window("arrivals")
        on_this_page = here and shown.start <= number - 1 < shown.end
        return f"{'' if on_this_page else self.href(arrivals=start)}#report-{number}"


def _offset(text: str) -> int:
    if not text:
        return 0
    if not text.isdigit() or not text.isascii() or len(text) > 9:
        raise _BadFilter(f"{text[:20]!r} is not a position in the timeline")
    return int(text)


@get("/messages/{id_sms:str}", guards=[sees(ANALYST, AUDITOR)])
async def message(
    request: Request,
    store: NamedDependency[Store],
    id_sms: FromPath[str],
    arrivals: FromQuery[str] = "",
    by_time: FromQuery[str] = "",
    limit: FromQuery[str] = "",
) -> Response:
    """An auditor sees the timeline from the event store, a page of each order at a time; an
    analyst the row of the views."""
    number = id_sms_number(id_sms)
    role = viewer_role(request)
    history, timeline = (
        await store.read(_timeline, store.tracker, number) if may(role, AUDITOR) else (None, None)
    )
    summary = await store.read(queries.message, store.tracker, store.views, number)
    if history is None and summary is None:
        raise NotFoundException(detail=f"no status was received for id_sms {number}")
    try:
        pages = TimelinePages(
            request.url.path, history.total if history else 0, arrivals, by_time, limit
        )
    except _BadFilter as e:
        raise ClientException(detail=str(e)) from None
    return await page(
        request,
        "message.html",
        id_sms=number,
        history=history,
        summary=summary,
        timeline=timeline,
        pages=pages,
        conflicts_listed=CONFLICTS_LISTED,
        outcomes=OUTCOMES,
        effects=EFFECTS,
        final_states=FINAL_STATES,
        zone=store.tracker.local_zone,
    )


@get("/messages/{id_sms:str}/reports/{at:str}", guards=[sees(AUDITOR)])
async def message_report(
    request: Request, store: NamedDependency[Store], id_sms: FromPath[str], at: FromPath[str]
) -> Response:
    """One report of a message's history (0: the first), its raw item whole."""
    number = id_sms_number(id_sms)
    position = position_number(at)
    found = (
        await store.read(
            partial(queries.history, store.tracker, number, start=position, limit=1, cut=None)
        )
        if position >= 0
        else None
    )
    if found is None or not found.reports:
        raise NotFoundException(detail=f"id_sms {number} has no report #{position + 1}")
    return await page(
        request,
        "report.html",
        id_sms=number,
        report=found.reports[0],
        back=TimelinePages(f"/ui/messages/{number}", found.total, "", "", "").report_href(
            position + 1, here=False
        ),
        outcomes=OUTCOMES,
        zone=store.tracker.local_zone,
    )


QUARANTINE_PAGE = (50, 500)  # items a page: by default, at most


@get("/quarantine", guards=[sees(AUDITOR)])
async def quarantine(
    request: Request,
    store: NamedDependency[Store],
    cursor: FromQuery[str] = "",
    trail: FromQuery[str] = "",
    limit: FromQuery[str] = "",
) -> Response:
    """Input that named no message, most recently received first, one page at a time, each
    item's raw text cut to its first 4,096 characters with a link to the whole item."""
    try:
        size = _page_size(limit, *QUARANTINE_PAGE)
        found = await store.read(queries.quarantine, store.views, size, cursor or None)
    except (_BadFilter, queries.BadCursor) as e:
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
    request: Request, store: NamedDependency[Store], item_id: FromPath[str]
) -> Response:
    """One quarantined item, its raw text whole."""
    found = await store.read(queries.quarantined_item, store.views, item_id)
    if found is None:
        raise NotFoundException(detail=f"no quarantined item has the id {item_id[:40]!r}")
    return await page(request, "quarantined.html", item=found)


@dataclass(frozen=True)
class Pager:
    """Links between the pages of a list whose cursor only goes forward: the address of each
    page carries the cursors of the pages before it (the last TRAIL of them, "+" first when
    older ones were left out), so "Previous" can lead back; "First page" always can."""

    first: str | None  # None on the first page
    previous: str | None
    next: str | None

    TRAIL = 40
    CUT = "+"

    @classmethod
    def of(
        cls, path: str, kept: dict[str, str], cursor: str, trail: str, after: str | None
    ) -> Pager:
        back = [c for c in trail.split(",") if c][-cls.TRAIL - 1 :] if cursor else []

        def at(cursor: str, back: list[str]) -> str:
            where = {**kept, **({"cursor": cursor} if cursor else {})}
            if back:
                where["trail"] = ",".join(back)
            return f"{path}?{urlencode(where)}" if where else path

        first = at("", []) if cursor else None
        if not back:
            previous = first  # the second page goes back to the first
        elif back[-1] == cls.CUT:
            previous = None  # the page before was left out of the address
        else:
            previous = at(back[-1], back[:-1])
        if after is None:
            return cls(first, previous, None)
        ahead = [*back, cursor] if cursor else []
        if len(ahead) > cls.TRAIL:
            ahead = [cls.CUT, *ahead[-cls.TRAIL :]]
        return cls(first, previous, at(after, ahead))


def _page_size(text: str, default: int, most: int) -> int:
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise _BadFilter(f"limit: {text[:20]!r} is not a number from 1 to {most}")
    return int(text)


# --- signing in and out --------------------------------------------------------------------------


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


# --- parsing what the forms send -----------------------------------------------------------------


_BadFilter = queries.BadFilter  # a filter the list cannot apply; the page says which and why


def _yes_no(name: str, text: str) -> bool | None:
    answers = {"": None, "yes": True, "true": True, "no": False, "false": False}
    if text.lower() not in answers:
        raise _BadFilter(f"{name}: {text[:40]!r} is not yes or no")
    return answers[text.lower()]


def _instant(name: str, text: str) -> datetime | None:
    """A date or date-time as a browser's datetime-local input sends it (naive: the query
    reads it as UTC, as the API's)."""
    return (
        queries.utc_instant(name, text, "a date and time (e.g. 2024-05-01T10:00)") if text else None
    )


def _over_tls(request: Request) -> bool:
    """Whether the browser reached us over TLS, directly or through a proxy that says so. Only
    the cookie's Secure flag hangs on it: a client lying here just loses its own sign-in."""
    return "https" in (request.url.scheme, _first(request.headers.get("x-forwarded-proto")))


def _within_console(target: str) -> str:
    """Only a path of this console: the login form never sends anyone elsewhere."""
    return target if target.startswith("/ui/") and not target.startswith("/ui//") else "/ui/"


# --- formatting for the templates ----------------------------------------------------------------


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


def percent(share: float) -> str:
    return f"{100 * share:.1f} %"


def _filters(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters.update(
        when=when, duration=duration, percent=percent, platform_time=platform_time
    )


TEMPLATES = TemplateConfig(
    directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=_filters
)

ROUTER = Router(
    "/ui",
    route_handlers=[
        overview,
        find,
        messages,
        message,
        message_report,
        quarantine,
        quarantined_item,
        login_form,
        login,
        logout,
    ],
    exception_handlers={Exception: _error_page},
    include_in_schema=False,
)

STATIC = create_static_files_router(
    path="/ui/static",
    directories=[HERE / "static"],
    cache_control=CacheControlHeader(max_age=3600),
    include_in_schema=False,
)
