"""The web console at /ui/: read-only HTML pages made on the server, no script (docs/console.md)."""

from __future__ import annotations

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from tracker.web.console import lists, outbound, requests, signin, timeline
from tracker.web.console.render import WEB, error_page

ROUTER = Router(
    "/ui",
    route_handlers=[
        lists.overview,
        lists.find,
        lists.messages,
        timeline.message,
        timeline.message_report,
        timeline.message_proof,
        lists.quarantine,
        lists.quarantined_item,
        outbound.forwarding,
        requests.requests,
        requests.request_page,
        signin.login_form,
        signin.login,
        signin.logout,
    ],
    exception_handlers={Exception: error_page},
    include_in_schema=False,
)

STATIC = create_static_files_router(
    path="/ui/static",
    directories=[WEB / "static"],
    cache_control=CacheControlHeader(max_age=3600),
    include_in_schema=False,
)
