"""Nothing the server shows as a page comes from another origin: every console page, the API
page at /schema, the error pages and the sign-in form, crawled over real HTTP and scanned."""

from __future__ import annotations

import json
import re
import time
from collections import deque
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.e2e.conftest import KEYS
from tracker.web.console.render import COOKIE

# Every way a page or a stylesheet can make the browser fetch, or lead it, somewhere.
ATTRIBUTES = "src|href|action|srcset|poster|data|formaction"
REFERENCES = [
    re.compile(rf"""\b(?:{ATTRIBUTES})\s*=\s*["']?([^"'\s>]+)""", re.I),
    re.compile(r"""url\(\s*["']?([^"')]+)""", re.I),
    re.compile(r"""@import\s+(?:url\()?\s*["']?([^"');\s]+)""", re.I),
]  # fmt: skip
GET_FORM = re.compile(r"<form\b[^>]*\baction=\"([^\"]+)\"[^>]*\bmethod=\"get\"", re.I)
# Pages that are not reached by a link: errors, and the sign-in form's variants.
SEEDS = [
    "/ui/",
    "/ui/login?next=/ui/quarantine",
    "/schema",
    "/schema/openapi.json",
    "/schema/openapi.yml",
    "/schema/nothing-here",  # Litestar's own 404 page under /schema
    "/ui/messages/8999",  # 404: no such message
    "/ui/messages/89x9",  # 400: not an id
    "/ui/messages?received_from=yesterday",  # 400: a filter explained
    "/ui/messages?cursor=not-ours",
    "/ui/find?id_sms=8001",
    "/ui/nothing-here",
]


def crawl(client: httpx.Client, seeds: list[str], limit: int = 400) -> dict[str, httpx.Response]:
    """Every page of this origin under /ui and /schema reachable from the seeds, by link, by a
    form that GETs, or by a stylesheet, each answer kept by the path it was asked for."""
    origin = urlsplit(str(client.base_url))[:2]
    seen: dict[str, httpx.Response] = {}
    queue = deque(seeds)
    while queue and len(seen) < limit:
        path = queue.popleft()
        if path in seen:
            continue
        response = seen[path] = client.get(path, follow_redirects=True)
        if not response.headers.get("content-type", "").startswith(("text/html", "text/css")):
            continue
        for ref in references(response.text) + GET_FORM.findall(response.text):
            url = urlsplit(urljoin(str(response.url), ref.replace("&amp;", "&")))
            target = url.path + (f"?{url.query}" if url.query else "")
            if url[:2] == origin and url.path.startswith(("/ui", "/schema")):
                queue.append(target)
    return seen


def references(text: str) -> list[str]:
    return [ref for pattern in REFERENCES for ref in pattern.findall(text)]


def foreign(client: httpx.Client, pages: dict[str, httpx.Response]) -> list[tuple[str, str]]:
    """Each (page, reference) naming another origin: a scheme and host not the server's (a
    scheme-relative //host too)."""
    origin = urlsplit(str(client.base_url))[:2]
    found = []
    for path, response in pages.items():
        if not response.headers.get("content-type", "").startswith(("text/html", "text/css")):
            continue
        for ref in references(response.text):
            url = urlsplit(urljoin(str(response.url), ref.replace("&amp;", "&")))
            if url[:2] != origin:  # javascript:, data: and the like too
                found.append((path, ref))
    return found


def covered(pages: dict[str, httpx.Response]) -> set[str]:
    return {urlsplit(str(r.url)).path for r in pages.values()} | {urlsplit(p).path for p in pages}


def post(server, *items) -> None:
    assert server.post(json.dumps(list(items)).encode()).status_code == 200


@pytest.fixture(scope="module")
def traffic(live_server):
    """A message with a conflict and a late report, a plain one, one with a long raw item, and a
    quarantined item."""
    post(live_server, {"id_sms": 8001, "time": "2024-05-01 10:00:05", "state": "read"})
    post(live_server, {"id_sms": 8001, "time": "2024-05-01 10:00:01", "state": "deliver"})
    post(live_server, {"id_sms": 8001, "time": "2024-05-01 10:00:09", "state": "expired"})
    post(live_server, {"id_sms": 8002, "time": "", "state": "send"}, {"id_sms": "x", "state": 1})
    post(live_server, {"id_sms": 8003, "time": "", "state": "send", "note": "z" * 5000})
    live_server.settled()
    with live_server.client() as client:  # the request log too (written a moment after)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if len(client.get("/requests", params={"id_sms": 8003}).json()["requests"]):
                break
            time.sleep(0.05)
    return live_server


def test_no_page_refers_to_another_origin(traffic):
    with traffic.client() as client:
        pages = crawl(client, SEEDS)
        assert foreign(client, pages) == []

    reached = covered(pages)
    for path in ("/ui/", "/ui/messages", "/ui/messages/8001", "/ui/messages/8002",
                 "/ui/quarantine", "/ui/login", "/schema", "/ui/static/console.css"):  # fmt: skip
        assert path in reached, path
    statuses = {r.status_code for r in pages.values()}
    assert {200, 400, 404} <= statuses
    html = [r for r in pages.values() if r.headers["content-type"].startswith("text/html")]
    assert all("default-src 'none'" in r.headers["content-security-policy"] for r in html), [
        str(r.url) for r in html if "content-security-policy" not in r.headers
    ]


def test_the_crawl_reaches_every_page_the_server_routes(traffic):
    """Each GET route under /ui and /schema, its parameters filled, is among the pages crawled:
    a page added later is scanned too, or this fails."""
    from tracker.bootstrap import open_tracker, open_views, server_parts
    from tracker.config import Settings
    from tracker.web.app import create_app

    settings = Settings(database_url=traffic.database_url, create_tables=False)
    tracker = open_tracker(settings)
    app = create_app(server_parts(tracker, open_views(tracker), settings), settings)
    routes = {
        route.path
        for route in app.routes
        if route.path.startswith(("/ui", "/schema")) and "GET" in getattr(route, "methods", ())
    }
    with traffic.client() as client:
        reached = covered(crawl(client, SEEDS))
    for route in routes:
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", route.rstrip("/") or "/") + "/?"
        assert any(re.fullmatch(pattern, path) for path in reached), route


@pytest.mark.parametrize("role", [None, "analyst", "auditor"])
def test_no_page_refers_to_another_origin_with_keys(keyed, role):
    """With API keys: the sign-in form every page leads to, and the 403 pages of each role."""
    cookies = {COOKIE: KEYS[role]} if role else {}
    with keyed.client(cookies=cookies) as client:
        pages = crawl(client, [*SEEDS, "/ui/messages", "/ui/quarantine", "/ui/messages/4100"])
        assert foreign(client, pages) == []
    if role == "analyst":
        assert any(r.status_code == 403 for r in pages.values())
