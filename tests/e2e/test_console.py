"""The web console in a real browser: an auditor reads a timeline, an analyst filters and pages the
list and follows the links, and nothing on a page comes from anywhere but the tracker."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.aged import NOT_OVERDUE, OVERDUE, aged_server  # noqa: F401 (a fixture)


def turn(where: Any, name: str) -> None:
    """Follow a pager link and wait for the page it leads to: a click only starts the
    navigation, and a table read at once may still be the old page's, or none (seen under load)."""
    page = getattr(where, "page", where)
    with page.expect_navigation():
        where.get_by_role("link", name=name).click()


def post(server, *items):
    """Each call is one POST, so reports posted one call at a time arrive in that order."""
    assert server.post(json.dumps(list(items)).encode()).status_code == 200


def now() -> str:
    """This instant in UTC, to the millisecond, as a datetime-local input holds it."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def cells(page: Page, table: str, column: int) -> list[str]:
    return page.locator(f"{table} tbody tr:not(.raw) td:nth-child({column})").all_inner_texts()


def listed_ids(page: Page) -> list[str]:
    return cells(page, "table.messages", 1)


def test_a_timeline_shows_every_report_in_arrival_and_in_status_time_order(live_server, page):
    reports = [
        ("send", "2024-05-01 10:00:00"),
        ("read", "2024-05-01 10:00:05"),
        ("deliver", "2024-05-01 10:00:02"),  # arrives after a later status: late, superseded
        ("not_deliver", "2024-05-01 10:00:09"),  # after the final read: rejected
        ("queued", "2024-05-01 10:00:10"),  # a state the rules do not know
    ]
    for state, time in reports:
        post(live_server, {"id_sms": "7001", "time": time, "state": state})
    live_server.settled()

    page.goto(f"{live_server.base_url}/ui/messages/7001")

    expect(page.locator("h1")).to_have_text("Message 7001")
    expect(page.locator("#current-state")).to_have_text("read")
    arrivals = "#arrival-order"
    assert cells(page, arrivals, 1) == ["1", "2", "3", "4", "5"]
    assert cells(page, arrivals, 3) == ['"7001"'] * 5  # the id as the platform sent it
    assert cells(page, arrivals, 4) == ["send", "read", "deliver", "not_deliver", "queued"]
    assert cells(page, arrivals, 6) == [
        "applied", "applied", "superseded", "rejected", "unknown state",
    ]  # fmt: skip
    assert cells(page, arrivals, 7) == ["send", "read", "read", "read", "read"]
    assert cells(page, arrivals, 8) == [
        "overridden", "sets the state", "overridden", "follows the final state", "never applied",
    ]  # fmt: skip
    assert cells(page, arrivals, 5)[0] == "2024-05-01 10:00:00 MSK"  # the platform's clock
    assert all(t.endswith(" UTC") for t in cells(page, arrivals, 2))  # the tracker's

    by_time = "#time-order"
    assert [t.split()[1] for t in cells(page, by_time, 1)] == [
        "10:00:00", "10:00:02", "10:00:05", "10:00:09", "10:00:10",
    ]  # fmt: skip
    assert cells(page, by_time, 2) == ["send", "deliver", "read", "not_deliver", "queued"]
    assert [n.split()[0] for n in cells(page, by_time, 3)] == ["1", "3", "2", "4", "5"]
    assert cells(page, by_time, 5) == ["send", "deliver", "read", "read", "read"]
    assert cells(page, by_time, 6)[2:4] == ["sets the state", "follows the final state"]


def test_a_report_applied_on_arrival_may_follow_the_final_state_now(live_server, page):
    """A read applied on arrival is overtaken by an earlier expiry that arrives later: the
    timeline says both, and the conflict card lists the reports that make the conflict."""
    post(live_server, {"id_sms": "7011", "time": "2024-05-01 10:00:05", "state": "read"})
    post(live_server, {"id_sms": "7011", "time": "2024-05-01 10:00:01", "state": "send"})
    post(live_server, {"id_sms": "7011", "time": "2024-05-01 10:00:09", "state": "deliver"})
    post(live_server, {"id_sms": "7011", "time": "2024-05-01 10:00:04", "state": "expired"})
    live_server.settled()

    page.goto(f"{live_server.base_url}/ui/messages/7011")

    arrivals = "#arrival-order"
    assert cells(page, arrivals, 6) == ["applied", "superseded", "rejected", "applied"]
    assert cells(page, arrivals, 8) == [
        "follows the final state", "overridden", "follows the final state", "sets the state",
    ]  # fmt: skip
    expect(page.locator("#current-state")).to_have_text("expired")
    card = page.locator("#conflict")
    expect(card.locator(".value")).to_have_text("yes")
    expect(card.locator("li")).to_have_text(
        ["#1 read 2024-05-01 10:00:05 MSK", "#3 deliver 2024-05-01 10:00:09 MSK"]
    )
    card.get_by_role("link", name="#3").click()
    expect(page).to_have_url(re.compile(r"#report-3$"))
    expect(page.locator("#report-3")).to_contain_text("follows the final state")
    legend = page.locator("section.legend")
    expect(legend).to_contain_text("the message is a conflict")
    expect(legend).to_contain_text("On arrival")


def test_a_message_with_no_known_state_says_so_in_words(live_server, page):
    post(live_server, {"id_sms": "7021", "time": "", "state": "queued"})
    live_server.settled()

    page.goto(f"{live_server.base_url}/ui/messages/7021")
    expect(page.locator("#current-state")).to_have_text("no known state yet")
    assert cells(page, "#arrival-order", 7) == ["no known state yet"]
    expect(page.locator("#conflict .value")).to_have_text("no")

    page.goto(f"{live_server.base_url}/ui/messages?id_sms=7021")
    assert cells(page, "table.messages", 2) == ["no known state yet"]


def test_rejected_and_out_of_order_reports_stand_out(live_server, page):
    post(live_server, {"id_sms": "7002", "time": "2024-05-01 10:00:05", "state": "expired"})
    post(live_server, {"id_sms": "7002", "time": "2024-05-01 10:00:01", "state": "send"})
    post(live_server, {"id_sms": "7002", "time": "2024-05-01 10:00:09", "state": "deliver"})
    live_server.settled()

    page.goto(f"{live_server.base_url}/ui/messages/7002")

    rows = page.locator("#arrival-order tbody tr")
    expired, late_send, rejected = rows.nth(0), rows.nth(1), rows.nth(2)
    expect(late_send.locator(".late-flag")).to_have_text("late")
    expect(expired.locator(".late-flag")).to_have_count(0)
    expect(rejected.locator(".late-flag")).to_have_count(0)
    expect(rejected).to_contain_text("rejected")

    def look(row):
        return row.evaluate(
            "e => [getComputedStyle(e).backgroundColor,"
            " getComputedStyle(e.firstElementChild).borderLeftStyle]"
        )

    plain_background, plain_border = look(expired)
    assert look(rejected)[0] != plain_background  # a rejected report is shaded
    assert (look(late_send)[1], plain_border) == ("solid", "none")  # a late one has a rule


def test_the_list_filters_by_state_and_keeps_the_filter_in_the_address(live_server, page):
    since = now()
    post(live_server,
         {"id_sms": "7101", "time": "2024-05-01 10:00:00", "state": "deliver"},
         {"id_sms": "7102", "time": "2024-05-01 10:00:00", "state": "expired"},
         {"id_sms": "7103", "time": "2024-05-01 10:00:00", "state": "expired"},
         {"id_sms": "7104", "time": "2024-05-01 10:00:00", "state": "read"})  # fmt: skip
    live_server.settled()
    page.goto(f"{live_server.base_url}/ui/messages?received_from={since}")
    assert listed_ids(page) == ["7101", "7102", "7103", "7104"]

    page.get_by_label("State").select_option("expired")
    page.get_by_role("button", name="Filter").click()

    expect(page).to_have_url(re.compile(r"[?&]state=expired(&|$)"))
    assert listed_ids(page) == ["7102", "7103"]
    assert cells(page, "table.messages", 2) == ["expired", "expired"]
    expect(page.get_by_label("State")).to_have_value("expired")  # the form shows the filter

    page.get_by_label("Final").select_option("no")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.messages")).to_contain_text("No message matches these filters")


def test_paging_through_the_list_shows_each_message_once(live_server, page):
    since = now()
    ids = [str(n) for n in range(7200, 7263)]
    post(live_server, *({"id_sms": n, "time": "", "state": "send"} for n in ids))
    live_server.settled()

    page.goto(f"{live_server.base_url}/ui/messages?received_from={since}")
    first = listed_ids(page)
    turn(page, "Next page")
    second = listed_ids(page)

    assert (len(first), first + second) == (50, ids)
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    turn(page, "Previous page")
    assert listed_ids(page) == first
    turn(page, "Next page")
    page.get_by_role("link", name="First page").click()
    assert listed_ids(page) == first


def test_links_lead_from_the_overview_to_a_list_and_on_to_a_timeline(live_server, page):
    post(live_server,
         {"id_sms": "7301", "time": "2024-05-01 10:00:00", "state": "send"},
         {"id_sms": "7301", "time": "2024-05-01 10:00:20", "state": "partly_deliver"})  # fmt: skip
    live_server.settled()
    page.goto(f"{live_server.base_url}/ui/")
    expect(page.locator("#lag")).to_have_text("0")
    expect(page.locator("table.states")).to_contain_text("partly_deliver")

    page.locator("table.states").get_by_role("link", name="partly_deliver").click()
    expect(page).to_have_url(re.compile(r"/ui/messages\?state=partly_deliver$"))
    assert "7301" in listed_ids(page)
    page.get_by_role("link", name="7301", exact=True).click()

    expect(page).to_have_url(re.compile(r"/ui/messages/7301$"))
    expect(page.locator("#current-state")).to_have_text("partly_deliver")
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("h1")).to_have_text("Overview")


def test_the_overview_counts_and_charts_delivery_times(live_server, page):
    post(live_server,
         {"id_sms": "7401", "time": "", "state": "send"},
         {"id_sms": "7401", "time": "2024-05-01 10:00:00", "state": "deliver"})  # fmt: skip
    live_server.settled()
    with live_server.client() as client:
        stats = client.get("/stats").json()

    page.goto(f"{live_server.base_url}/ui/")

    expect(page.locator("#messages-total")).to_have_text(str(stats["messages"]))
    expect(page.locator("#conflicts")).to_have_text(str(stats["conflicts"]))
    shown = dict(
        zip(
            page.locator("table.states td .state").all_inner_texts(),
            cells(page, "table.states", 2),
            strict=True,
        )
    )
    assert shown == {
        c["state"] or "no known state yet": str(c["messages"]) for c in stats["states"]
    }
    chart = page.locator("svg.linechart")
    expect(chart.locator("polyline")).to_have_count(3)  # p50, p90 and p99
    expect(chart.locator("circle.p50")).to_have_count(len(stats["per_day"]))


def test_the_lookup_box_opens_a_message_and_explains_a_bad_id(live_server, page):
    post(live_server, {"id_sms": "7501", "time": "", "state": "send"})
    live_server.settled()
    page.goto(f"{live_server.base_url}/ui/")

    page.get_by_placeholder("Go to message").fill("7501")
    page.get_by_placeholder("Go to message").press("Enter")
    expect(page).to_have_url(re.compile(r"/ui/messages/7501$"))

    page.get_by_placeholder("Go to message").fill("75x1")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("h1")).to_have_text("Not understood")
    expect(page.get_by_role("alert")).to_contain_text("id_sms must be ASCII digits")

    response = page.goto(f"{live_server.base_url}/ui/messages/7599")
    assert response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("no status was received for id_sms 7599")


def test_the_quarantine_shows_what_arrived_and_why_as_plain_text(live_server, page):
    hostile = "<img src=x onerror=alert(1)>"
    post(live_server, {"id_sms": hostile, "time": "", "state": "send"})
    live_server.settled()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"{live_server.base_url}/ui/quarantine")

    row = page.locator("table.quarantine tbody tr", has_text=hostile).first
    expect(row.locator("td.reason")).to_contain_text("is not an integer")
    expect(row.locator("code.raw")).to_contain_text(f'"id_sms": "{hostile}"')
    expect(page.locator("img")).to_have_count(0)
    assert dialogs == []


def test_pages_load_nothing_from_elsewhere_and_forbid_scripts(live_server, page):
    post(live_server, {"id_sms": "7601", "time": "", "state": "send"})
    live_server.settled()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    for path in (
        "/ui/",
        "/ui/messages",
        "/ui/messages/7601",
        "/ui/quarantine",
        "/ui/login",
        "/schema",
    ):
        response = page.goto(f"{live_server.base_url}{path}")
        assert response.status == 200, path
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        expect(page.locator("link[rel=stylesheet]")).to_have_count(1)
        assert (
            page.evaluate("getComputedStyle(document.querySelector('header')).display") == "flex"
        )  # the console's own stylesheet is applied

    assert requested and all(url.startswith(live_server.base_url) for url in requested)


def test_filters_from_the_address_are_shown_as_text_and_bad_ones_explained(live_server, page):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    hostile = '"><script>alert(1)</script>'

    response = page.goto(f"{live_server.base_url}/ui/messages?id_sms=&received_from={hostile}")
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("is not a date and time")
    expect(page.get_by_label("Received from (UTC)")).to_have_count(1)
    expect(page.locator("script")).to_have_count(0)

    response = page.goto(f"{live_server.base_url}/ui/messages?cursor=not-ours&final=perhaps")
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("is not yes or no")
    response = page.goto(f"{live_server.base_url}/ui/messages?cursor=not-ours")
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("not one this API gave out")
    assert dialogs == []
    page.goto(f"{live_server.base_url}/ui/messages?final=TRUE&overdue=False")
    # the drop-downs show what the address chose: the form sent again keeps the filters
    expect(page.locator("select[name=final]")).to_have_value("yes")
    expect(page.locator("select[name=overdue]")).to_have_value("no")


def test_the_quarantine_pages_forward_and_back_and_cuts_long_items(live_server, page):
    hidden = "x" * 300_000  # a long item: the list shows its start and links to all of it
    post(live_server, {"id_sms": "q-long", "state": "send", "note": hidden})
    post(live_server, *({"id_sms": f"q-{n:03d}", "state": "send"} for n in range(120)))
    live_server.settled()

    def listed() -> list[str]:
        rows = page.locator("table.quarantine tbody tr td:nth-child(6)").all_inner_texts()
        return [m[1] for r in rows if (m := re.match(r'\{"id_sms": "(q-[^"]+)"', r))]

    response = page.goto(f"{live_server.base_url}/ui/quarantine")
    assert len(response.body()) < 100_000  # 50 items, none whole
    first = listed()
    turn(page, "Next page")
    second = listed()
    turn(page, "Next page")
    third = listed()
    turn(page, "Previous page")
    assert listed() == second
    turn(page, "Previous page")
    assert listed() == first
    expect(page.get_by_role("link", name="Previous page")).to_have_count(0)

    seen = first + second + third
    assert (len(first), len(second)) == (50, 50)
    assert sorted(seen) == sorted({*seen}) and {f"q-{n:03d}" for n in range(120)} <= {*seen}

    page.goto(f"{live_server.base_url}/ui/quarantine?limit=200")
    row = page.locator("table.quarantine tbody tr", has_text="q-long")
    expect(row.locator(".cut")).to_contain_text("the first 4,096 characters of 300,")
    row.get_by_role("link", name="the whole item").click()
    expect(page.locator("h1")).to_have_text("Quarantined item")
    assert hidden in page.locator("#raw").inner_text()

    response = page.goto(f"{live_server.base_url}/ui/quarantine?limit=5000")
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("is not a number from 1 to 500")
    assert page.goto(f"{live_server.base_url}/ui/quarantine/{'0' * 32}").status == 404


def test_a_long_timeline_shows_a_page_of_each_order_with_links_between_pages(live_server, page):
    """450 reports, times a second apart; a read at the second one, posted last, makes every
    later report follow the final state."""
    base = datetime(2024, 5, 2, 10, 0, 0)
    at = [f"{base + timedelta(seconds=n):%Y-%m-%d %H:%M:%S}" for n in range(450)]
    post(live_server, *({"id_sms": "7701", "time": t, "state": "deliver"} for t in at))
    post(live_server, {"id_sms": "7701", "time": at[1], "state": "read"})
    live_server.settled()

    page.goto(f"{live_server.base_url}/ui/messages/7701")
    arrivals = "#arrival-order"
    expect(page.locator("#reports-total")).to_have_text("451")
    assert cells(page, arrivals, 1) == [str(n) for n in range(1, 201)]
    expect(page.locator("section[aria-labelledby=arrivals] .window")).to_have_text(
        "Reports 1 to 200 of 451, in arrival order."
    )
    arrival_pages = page.locator("section[aria-labelledby=arrivals] nav.pages")
    turn(arrival_pages, "Next page")
    assert cells(page, arrivals, 1) == [str(n) for n in range(201, 401)]
    turn(arrival_pages, "Next page")
    assert cells(page, arrivals, 1) == [str(n) for n in range(401, 452)]
    expect(arrival_pages.get_by_role("link", name="Next page")).to_have_count(0)
    turn(arrival_pages, "Previous page")
    assert cells(page, arrivals, 1)[0] == "201"

    # the other table pages on its own, and keeps the first table where it was
    time_pages = page.locator("section[aria-labelledby=by-time] nav.pages")
    turn(time_pages, "Next page")
    assert [n.split()[0] for n in cells(page, "#time-order", 3)][:2] == ["200", "201"]
    assert cells(page, arrivals, 1)[0] == "201"

    card = page.locator("#conflict")
    expect(card.locator("li")).to_have_count(20)
    expect(card).to_contain_text("and 428 more")  # 448 reports after the read's time

    page.goto(f"{live_server.base_url}/ui/messages/7701?limit=10")
    card.get_by_role("link", name="#13").click()  # on the second page of ten
    expect(page).to_have_url(re.compile(r"arrivals=10.*#report-13$"))
    expect(page.locator("#report-13")).to_contain_text("follows the final state")

    response = page.goto(f"{live_server.base_url}/ui/messages/7701?arrivals=x1")
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("is not a position in the timeline")


def test_a_report_received_again_says_how_many_times_and_when_first_and_last(live_server, page):
    report = {"id_sms": "7711", "time": "2024-05-01 10:00:00", "state": "deliver"}
    for _ in range(3):
        post(live_server, report)
    post(live_server, {"id_sms": "7711", "time": "2024-05-01 10:00:09", "state": "read"})
    live_server.settled()
    with live_server.client() as client:
        first, _ = client.get("/messages/7711/history").json()["reports"]

    page.goto(f"{live_server.base_url}/ui/messages/7711")

    received = cells(page, "#arrival-order", 2)
    assert received[0].startswith(f"{first['received_at'][:10]} ")
    assert "received 3 times; last " in received[0] and received[0].endswith(" UTC")
    assert "received" not in received[1]  # once: no note
    expect(page.locator("#reports-total")).to_have_text("2")
    expect(page.locator("#receipts-total")).to_contain_text("received 4 time(s) in all")


def test_a_report_with_a_long_raw_item_shows_its_start_and_links_to_all_of_it(live_server, page):
    hidden = "y" * 20_000  # a key beyond the contract's: the item is kept as received
    post(live_server, {"id_sms": "7721", "time": "", "state": "send", "note": hidden})
    live_server.settled()

    response = page.goto(f"{live_server.base_url}/ui/messages/7721")
    assert len(response.body()) < 20_000
    raw = page.locator("#arrival-order tr.raw")
    expect(raw.locator(".cut")).to_contain_text("the first 4,096 characters of 20,")
    raw.get_by_role("link", name="the whole item").click()

    expect(page).to_have_url(re.compile(r"/ui/messages/7721/reports/0$"))
    expect(page.locator("h1")).to_have_text("Report #1 of message 7721")
    assert hidden in page.locator("#raw").inner_text()
    page.get_by_role("link", name="Back to the timeline").click()
    expect(page).to_have_url(re.compile(r"/ui/messages/7721#report-1$"))
    assert page.goto(f"{live_server.base_url}/ui/messages/7721/reports/1").status == 404


def test_the_overview_counts_overdue_messages_and_the_list_filters_on_them(aged_server, page):  # noqa: F811
    page.goto(f"{aged_server.base_url}/ui/")
    expect(page.locator("#overdue")).to_have_text(str(len(OVERDUE)))
    expect(page.locator(".card", has=page.locator("#overdue"))).to_contain_text(
        "not final 3 d after their first receipt"
    )

    page.locator("#overdue").click()
    expect(page).to_have_url(re.compile(r"/ui/messages\?overdue=yes$"))
    assert listed_ids(page) == [str(n) for n in OVERDUE]
    assert cells(page, "table.messages", 4) == ["no overdue"] * len(OVERDUE)  # Final: no, overdue
    expect(page.get_by_label("Overdue")).to_have_value("yes")  # the form shows the filter

    page.get_by_label("Overdue").select_option("no")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]overdue=no(&|$)"))
    assert listed_ids(page) == [str(n) for n in NOT_OVERDUE]
    assert cells(page, "table.messages", 4) == ["yes", "no"]  # 8002 final, 8003 not yet overdue

    page.goto(f"{aged_server.base_url}/ui/messages?overdue=yes")
    page.get_by_role("link", name=str(OVERDUE[0]), exact=True).click()
    expect(page.locator("#overdue")).to_have_text("overdue")  # on the message's page
    page.goto(f"{aged_server.base_url}/ui/messages/{NOT_OVERDUE[1]}")
    expect(page.locator("#overdue")).to_have_count(0)

    response = page.goto(f"{aged_server.base_url}/ui/messages?overdue=soon")
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("overdue: 'soon' is not yes or no")


def test_a_timeline_shows_each_reports_channels_and_the_messages_latest_per_channel(
    live_server, page
):
    body = (
        '<?xml version="1.0" encoding="utf-8" ?><response>'
        '<state id_sms="7941" time="2024-05-01 10:00:00" viber="deliver">deliver</state>'
        '<state id_sms="7941" time="2024-05-01 10:00:09" sms="not_deliver" viber="read">read'
        "</state></response>"
    )
    assert live_server.post(body.encode()).status_code == 200
    live_server.settled()
    page.goto(f"{live_server.base_url}/ui/messages/7941")
    expect(page.locator("#channels .value")).to_have_text("sms: not_deliver, viber: read")
    details = page.locator("#arrival-order tbody tr:not(.raw) td:nth-child(4) .channels")
    assert details.all_inner_texts() == ["viber: deliver", "sms: not_deliver, viber: read"]
    page.goto(f"{live_server.base_url}/ui/messages/7941/reports/1")
    expect(page.locator("#channels")).to_have_text("sms: not_deliver, viber: read")
    expect(page.locator("#source")).to_have_text("the webhook")
