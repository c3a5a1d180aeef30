"""The console's Previous and Next links over a cursor that only goes forward."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tracker.web.console.forms import Pager


def follow(link: str) -> tuple[str, str]:
    query = parse_qs(urlsplit(link).query)
    return query.get("cursor", [""])[0], query.get("trail", [""])[0]


def test_previous_leads_back_through_every_page_walked_forward_within_the_trail():
    cursors = ["", *(f"c{n}" for n in range(1, 100))]  # page n starts at cursors[n]
    at, trail = "", ""
    for n in range(99):
        pages = Pager.of("/ui/list", {"limit": "7"}, at, trail, cursors[n + 1])
        assert pages.next is not None and "limit=7" in pages.next
        at, trail = follow(pages.next)
        assert at == cursors[n + 1]

    walked_back = 0
    while (pages := Pager.of("/ui/list", {}, at, trail, "ahead")).previous:
        at, trail = follow(pages.previous)
        walked_back += 1
        if not at:
            break
        assert at == cursors[99 - walked_back]
    assert walked_back == Pager.TRAIL  # the pages further back were left out of the address
    assert pages.first == "/ui/list"


def test_the_first_page_has_no_way_back_and_the_last_no_way_on():
    first = Pager.of("/ui/list", {}, "", "", "c1")
    assert (first.first, first.previous, first.next) == (None, None, "/ui/list?cursor=c1")
    last = Pager.of("/ui/list", {}, "c1", "", None)
    assert (last.first, last.previous, last.next) == ("/ui/list", "/ui/list", None)
