"""The console's Previous and Next links over a cursor that only goes forward."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tracker.web.console.forms import BadFilter, Pager, page_size


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


@pytest.mark.parametrize("text", ["²", "٣", "0", "1001", "9" * 40, "-5", "1e3", " 5"])
def test_a_page_size_that_is_not_an_ascii_number_in_range_is_a_bad_filter(text):
    with pytest.raises(BadFilter):
        page_size(text, 100, 1000)


def test_a_page_size_in_range_is_taken_and_none_gives_the_default():
    assert (page_size("", 100, 1000), page_size("250", 100, 1000)) == (100, 250)
