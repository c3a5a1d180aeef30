"""Query parameters a user mistypes or an attacker crafts: each is a 400 that names the parameter
as the request wrote it and says what it accepts, never a 500, a 503 or a silent empty answer."""

from __future__ import annotations

import base64

import pytest


@pytest.mark.parametrize(
    ("path", "params", "named", "says"),
    [
        ("/messages", {"state": "bogus"}, "state", "known states are send, partly_deliver"),
        ("/messages", {"state": "de\x00liver"}, "state", "NUL"),
        ("/messages", {"cursor": "\x00"}, "cursor", "NUL"),
        ("/messages", {"received_from": "0001-01-01T00:00:00+01:00"}, "received_from", "years"),
        ("/messages", {"received_to": "9999-12-31T23:59:59-01:00"}, "received_to", "years"),
        ("/messages", {"received_to": "tomorrow"}, "received_to", "ISO 8601"),
        ("/messages", {"final": "maybe"}, "final", "bool"),
        ("/messages", {"overdue": "soon"}, "overdue", "bool"),
        ("/messages", {"limit": "0"}, "limit", ">= 1"),
        ("/messages/1/history", {"as_of": "0001-01-01T00:30:00+01:00"}, "as_of", "years"),
        ("/quarantine", {"cursor": "nope"}, "cursor", "start without it"),
        ("/export/messages", {"format": "xml"}, "format", "xml"),
        ("/stats", {"days": "abc"}, "days", "int"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(live_server, path, params, named, says):
    with live_server.client() as client:
        answer = client.get(path, params=params)
    assert answer.status_code == 400, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith(f"{named}: ") and says in detail, detail


@pytest.mark.parametrize("edge", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "0001-01-01"])
def test_the_calendars_own_ends_are_valid_instants(live_server, edge):
    with live_server.client() as client:
        for name in ("received_from", "received_to"):
            assert client.get("/messages", params={name: edge}).status_code == 200


def test_the_state_with_none_known_is_the_empty_string(live_server):
    live_server.post(b'[{"id_sms": 9810, "time": "", "state": "mystery"}]')
    live_server.settled()
    with live_server.client() as client:
        listed = client.get("/messages", params={"state": "", "limit": 1000}).json()
    assert 9810 in [m["id_sms"] for m in listed["messages"]]


@pytest.mark.parametrize("position", ["%2B1", "%201", "%D9%A1", "1_0", "1" * 5000])
def test_a_reports_position_is_plain_ascii_digits(live_server, position):
    live_server.post(b'[{"id_sms": 9820, "time": "", "state": "send"}]')
    with live_server.client() as client:
        answer = client.get(f"/messages/9820/reports/{position}")
    assert answer.status_code == 400 and answer.json()["detail"].startswith("position")


@pytest.mark.parametrize(
    "forged",
    [
        "2024-01-01T00:00:00\x00+00:00",
        "2024-W01-1",
        "20240101T000000",
        "2024-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999+14:00",
    ],
)
def test_a_quarantine_cursor_is_only_one_the_api_gave_out(live_server, forged):
    cursor = base64.urlsafe_b64encode(f"q1:{forged}|{'0' * 32}".encode()).decode()
    with live_server.client() as client:
        answer = client.get("/quarantine", params={"cursor": cursor})
    assert answer.status_code == 400 and answer.json()["detail"].startswith("cursor: ")


def test_a_full_last_page_has_no_next(live_server):
    live_server.post(b'[{"id_sms": 9830, "time": "", "state": "send"}]')
    live_server.settled()
    with live_server.client() as client:
        everything = client.get("/messages", params={"limit": 1000}).json()["messages"]
        exact = client.get("/messages", params={"limit": len(everything)}).json()
        quarantined = client.get("/quarantine", params={"limit": 1000}).json()
        if quarantined["total"]:
            exact_q = client.get("/quarantine", params={"limit": quarantined["total"]}).json()
            assert exact_q["next"] is None and len(exact_q["items"]) == quarantined["total"]
    assert exact["next"] is None and exact["messages"] == everything


def test_the_console_refuses_what_the_api_refuses(live_server):
    with live_server.client() as client:
        for params in (
            {"state": "bogus"},
            {"received_from": "0001-01-01T00:00:00+14:00"},
            {"received_to": "9999-12-31T23:59:59-14:00"},
        ):
            page = client.get("/ui/messages", params=params)
            assert page.status_code == 400, (params, page.status_code)
