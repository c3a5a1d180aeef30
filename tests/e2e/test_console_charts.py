"""The overview's pictures in a real browser: delivery rate and volume per sending day as
inline SVG (no script, the pages' policy intact), the senders and campaigns with sparklines,
the range form narrowing what is drawn, and what shows instead of charts when there are none."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.charted import AGO, HOSTILE, OLD, charted_server, day, old_views_server  # noqa: F401

# Days of the last 30 with messages: AGO, and today (9901, reported, never registered).
DAYS_WITH_MESSAGES = len(AGO) + 1


def watched(page: Page) -> list[str]:
    """The console's messages (CSP violations are reported there) and the page's failures."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(f"{m.type}: {m.text}"))
    return seen


def test_the_overview_draws_rate_and_volume_per_day_of_the_last_30(charted_server, page):  # noqa: F811
    console = watched(page)
    response = page.goto(f"{charted_server.base_url}/ui/")
    assert response.status == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "'unsafe-inline'" not in policy

    rate = page.locator("svg#rate-chart")
    expect(rate.locator("title").first).to_have_text("Delivery rate per sending day")
    expect(rate.locator("desc")).to_contain_text(f"{day(29)} to {day(0)}")
    expect(rate.locator("circle.dot")).to_have_count(len(AGO))  # today: no outcome known
    expect(rate.locator("text.xlabel")).to_have_count(10)  # 30 days, every third labelled
    expect(rate.locator("text.ylabel")).to_have_text(["0 %", "25 %", "50 %", "75 %", "100 %"])
    # two days at 1 of 2 (50 %), two days days at 2 of 3 with beta's read: one at 67 %
    labels = rate.locator("circle.dot title").all_text_contents()
    assert labels[-1] == f"{day(1)}: 50.0 % delivered (1 of 2)"
    assert f"{day(2)}: 66.7 % delivered (2 of 3)" in labels

    volume = page.locator("svg#volume-chart")
    expect(volume.locator("rect.delivered")).to_have_count(len(AGO))
    expect(volume.locator("rect.undelivered")).to_have_count(len(AGO))
    expect(volume.locator("rect.pending")).to_have_count(DAYS_WITH_MESSAGES)
    tops = volume.locator("rect.pending title").all_text_contents()
    assert tops[-1] == f"{day(0)}: 1 pending of 1"

    rows = page.locator("#per-day-figures tbody tr")
    expect(rows).to_have_count(DAYS_WITH_MESSAGES)  # the same figures as a table
    page.locator("#per-day-figures summary").click()
    expect(rows.nth(0)).to_have_text(
        "\t".join([day(5), "3", "1", "1", "1", "50.0 %"]), use_inner_text=True
    )
    # every colour comes from the stylesheet: no inline style anywhere in the page
    assert page.locator("[style]").count() == 0 and page.locator("style").count() == 0
    assert page.locator("script").count() == 0
    assert (
        page.evaluate("getComputedStyle(document.querySelector('rect.delivered')).fill")
        == "rgb(31, 122, 63)"
    )  # --good from console.css
    assert not [m for m in console if "Content Security Policy" in m or "Refused" in m]


def test_senders_and_campaigns_are_tabled_with_a_sparkline_each(charted_server, page):  # noqa: F811
    page.goto(f"{charted_server.base_url}/ui/")

    senders = page.locator("#sender-table tbody tr")
    keys = senders.locator("td:nth-child(1)").all_inner_texts()
    # by messages, then by key: "" (none) before "<script..." before "beta", one message each
    assert keys == ["alpha", "(none)", " ".join(HOSTILE.split()), "beta"]
    first = senders.nth(0).locator("td").all_inner_texts()
    assert first[1:4] == ["12", "50.0 %", "33.3 %"]  # 4 of 8 delivered, 4 of 12 pending
    expect(page.locator("#sender-table svg.spark")).to_have_count(senders.count())
    spark = senders.nth(0).locator("svg.spark polyline").get_attribute("points")
    assert len(spark.split()) == 30  # one point a day of the range
    expect(senders.nth(0).locator("svg.spark")).to_have_attribute(
        "aria-label", f"messages per day, {day(29)} to {day(0)}, busiest 3"
    )
    hostile = page.locator("#sender-table td", has_text="<script>")
    expect(hostile).to_have_count(1)  # shown as text, never as markup
    assert page.locator("script").count() == 0
    campaigns = page.locator("#campaign-table tbody tr td:nth-child(1)").all_inner_texts()
    assert campaigns == ["spring", "(none)"]


def test_the_range_form_narrows_what_is_drawn_and_explains_a_bad_date(charted_server, page):  # noqa: F811
    page.goto(f"{charted_server.base_url}/ui/")
    expect(page.get_by_label("From (UTC day)")).to_have_value(day(29))  # the range shown
    expect(page.get_by_label("To (UTC day)")).to_have_value(day(0))
    page.get_by_label("From (UTC day)").fill(day(3))
    page.get_by_label("To (UTC day)").fill(day(1))
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()

    assert f"from={day(3)}" in page.url and f"to={day(1)}" in page.url
    expect(page.locator("svg#rate-chart text.xlabel")).to_have_count(3)  # three days drawn
    expect(page.locator("svg#rate-chart circle.dot")).to_have_count(3)
    expect(page.locator("svg#volume-chart rect.pending")).to_have_count(3)
    expect(page.locator("#per-day-figures tbody tr")).to_have_count(3)
    expect(page.get_by_label("From (UTC day)")).to_have_value(day(3))  # the form kept

    page.goto(f"{charted_server.base_url}/ui/?from={day(OLD)}&to={day(OLD)}")
    expect(page.locator("svg#volume-chart rect.delivered")).to_have_count(1)
    expect(page.locator("#sender-table tbody tr td:nth-child(1)")).to_have_text(["beta"])

    page.goto(f"{charted_server.base_url}/ui/?from={day(OLD + 5)}&to={day(OLD + 1)}")
    expect(page.locator("#no-messages")).to_have_text("No messages in this range.")
    expect(page.locator("svg#rate-chart")).to_have_count(0)

    for query, said in (
        ("from=2026-13-01", "from: '2026-13-01' is not a date (YYYY-MM-DD)"),
        ("to=yesterday", "to: 'yesterday' is not a date (YYYY-MM-DD)"),
        (f"from={day(1)}&to={day(3)}", f"from: {day(1)} is after to ({day(3)})"),
        ("from=2020-01-01&to=2026-01-01", "is more than 366 days"),
    ):
        response = page.goto(f"{charted_server.base_url}/ui/?{query}")
        assert response.status == 400, query
        expect(page.locator("#range-error")).to_contain_text(said)
        expect(page.locator("svg#rate-chart")).to_have_count(0)
        expect(page.locator("#messages-total")).to_be_visible()  # the rest of the page stands


def test_views_made_before_the_breakdowns_say_to_rebuild_instead_of_charts(old_views_server, page):  # noqa: F811
    response = page.goto(f"{old_views_server.base_url}/ui/")
    assert response.status == 200
    expect(page.locator("#breakdown-incomplete")).to_contain_text("run tracker rebuild")
    expect(page.locator("svg#rate-chart")).to_have_count(0)
    expect(page.locator("#messages-total")).to_be_visible()
