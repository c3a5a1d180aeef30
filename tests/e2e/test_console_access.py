"""The console obeys the read-side roles: sign in with an API key, see what the role may see."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import KEYS
from tracker.web.console.render import COOKIE

# Every console page with the roles that see it; a page some roles see only in part says so.
PAGES = {
    "/ui/": {"auditor", "analyst", "admin"},  # the figures only for analyst and admin
    "/ui/messages": {"analyst", "admin"},
    "/ui/messages/4100": {"auditor", "analyst", "admin"},  # the timeline only for auditor, admin
    "/ui/quarantine": {"auditor", "admin"},
    "/ui/forwarding": {"auditor", "admin"},
    "/ui/requests": {"auditor", "admin"},
    "/ui/requests/1": {"auditor", "admin"},  # the request that stored 4100
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


def sign_in(server, **headers) -> httpx.Response:
    with server.client() as client:
        return client.post(
            "/ui/login", data={"key": KEYS["auditor"], "next": "/ui/quarantine"}, headers=headers
        )


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://elsewhere.example"},
        {"Origin": "null"},  # a sandboxed frame or a data: page
        {"Referer": "http://elsewhere.example/page.html"},
        {"Origin": "http://elsewhere.example", "Referer": "{own}/ui/login"},  # Origin decides
        {"Origin": "{own_host}:1"},  # the same host on another port is another site
        {"Origin": "https://{own_hostport}"},  # and so is another scheme
    ],
)
def test_a_sign_in_posted_from_another_site_is_refused(keyed, headers):
    own_hostport = keyed.base_url.removeprefix("http://")
    headers = {
        k: v.format(own=keyed.base_url, own_host=keyed.base_url.rsplit(":", 1)[0],
                    own_hostport=own_hostport)
        for k, v in headers.items()
    }  # fmt: skip
    response = sign_in(keyed, **headers)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert "another site" in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "{own}"},
        {"Referer": "{own}/ui/login?next=/ui/quarantine"},
        {},  # neither: not a browser on another site (docs/console.md)
        # behind a TLS proxy that keeps the Host header and says which scheme the browser used
        {"Origin": "https://tracker.example", "Host": "tracker.example",
         "X-Forwarded-Proto": "https"},
        # behind a proxy that rewrites Host and sends the browser's in X-Forwarded-Host
        {"Origin": "https://tracker.example:8443", "X-Forwarded-Host": "tracker.example:8443",
         "X-Forwarded-Proto": "https"},
    ],
)  # fmt: skip
def test_a_sign_in_from_the_console_itself_is_taken(keyed, headers):
    headers = {k: v.format(own=keyed.base_url) for k, v in headers.items()}
    response = sign_in(keyed, **headers)
    assert (response.status_code, response.headers["location"]) == (303, "/ui/quarantine")
    assert response.headers["set-cookie"].startswith(f"{COOKIE}=")


def test_a_sign_out_posted_from_another_site_leaves_the_visitor_signed_in(keyed, page):
    page.goto(f"{keyed.base_url}/ui/login")
    page.get_by_label("API key").fill(KEYS["auditor"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Overview")

    # A post to the sign-out with the browser's cookie, from another site as a form there would.
    response = page.request.post(
        f"{keyed.base_url}/ui/logout", headers={"Origin": "http://elsewhere.example"}
    )
    assert response.status == 403 and "set-cookie" not in response.headers
    page.goto(f"{keyed.base_url}/ui/quarantine")
    expect(page.locator("h1")).to_have_text("Quarantine")  # still signed in

    page.get_by_role("button", name="Sign out").click()  # the console's own button still works
    expect(page).to_have_url(re.compile(r"/ui/login$"))
