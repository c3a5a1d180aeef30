"""The console obeys the read-side roles: sign in with an API key, see what the role may see."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import KEYS
from tracker.web.console import COOKIE

# Every console page with the roles that see it; a page some roles see only in part says so.
PAGES = {
    "/ui/": {"auditor", "analyst", "admin"},  # the figures only for analyst and admin
    "/ui/messages": {"analyst", "admin"},
    "/ui/messages/4100": {"auditor", "analyst", "admin"},  # the timeline only for auditor, admin
    "/ui/quarantine": {"auditor", "admin"},
}


@pytest.mark.parametrize("path", list(PAGES))
@pytest.mark.parametrize("role", ["auditor", "analyst", "admin"])
def test_each_role_sees_exactly_its_pages(keyed, role, path):
    with keyed.client(cookies={COOKIE: KEYS[role]}) as client:
        response = client.get(path)
    expected = 200 if role in PAGES[path] else 403
    assert response.status_code == expected, response.text
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", list(PAGES))
def test_without_a_key_every_page_leads_to_the_sign_in_form(keyed, path):
    with keyed.client(cookies={COOKIE: "not-a-key-0123456789"}) as client:
        response = client.get(path, params={"x": "1"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/login?next={path}%3Fx%3D1"


def test_an_analyst_signs_in_sees_the_list_but_no_timeline_and_signs_out(keyed, page):
    page.goto(f"{keyed.base_url}/ui/messages")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/messages$"))

    page.get_by_label("API key").fill("a-wrong-key-0123456789")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That is not one of the configured API keys.")

    page.get_by_label("API key").fill(KEYS["analyst"])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/ui/messages$"))
    expect(page.get_by_role("link", name="4100", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Console").get_by_role("link")).to_have_text(
        ["Overview", "Messages"]
    )
    [cookie] = page.context.cookies()
    assert (cookie["name"], cookie["path"], cookie["httpOnly"], cookie["sameSite"]) == (
        COOKIE, "/ui", True, "Strict",
    )  # fmt: skip
    assert page.request.get(f"{keyed.base_url}/messages").status == 401  # the API wants a header

    page.get_by_role("link", name="4100", exact=True).click()
    expect(page.locator("#current-state")).to_have_text("send")
    expect(page.locator("#needs-auditor")).to_be_visible()
    expect(page.locator("#arrival-order")).to_have_count(0)

    response = page.goto(f"{keyed.base_url}/ui/quarantine")
    assert response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("it needs an admin or auditor key")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.goto(f"{keyed.base_url}/ui/")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/$"))


def test_an_auditor_sees_timelines_and_the_quarantine_but_no_figures(keyed, page):
    page.goto(f"{keyed.base_url}/ui/login")
    page.get_by_label("API key").fill(KEYS["auditor"])
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("#lag")).to_have_text("0")
    expect(page.locator("#messages-total")).to_have_count(0)
    page.get_by_placeholder("Go to message").fill("4100")
    page.get_by_placeholder("Go to message").press("Enter")
    expect(page.locator("#arrival-order tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Quarantine").click()
    expect(page.locator("h1")).to_have_text("Quarantine")


def test_the_sign_in_form_sends_no_one_away_from_the_console(keyed, page):
    page.goto(f"{keyed.base_url}/ui/login?next=//elsewhere.example/ui/")
    page.get_by_label("API key").fill(KEYS["admin"])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{keyed.base_url}/ui/")


@pytest.mark.parametrize(("proto", "secure"), [(None, False), ("https", True)])
def test_the_key_cookie_is_secure_when_the_browser_came_over_tls(keyed, proto, secure):
    headers = {"X-Forwarded-Proto": proto} if proto else {}
    with keyed.client() as client:
        response = client.post(
            "/ui/login", data={"key": KEYS["auditor"], "next": "/ui/quarantine"}, headers=headers
        )
    assert (response.status_code, response.headers["location"]) == (303, "/ui/quarantine")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    assert ("secure" in cookie.replace("samesite", "")) is secure
