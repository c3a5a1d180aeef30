"""POST /messages/sent through a real server: the sender role registers and reads nothing,
hostile items are each judged on their own, the body limits and deadlines are the webhook's, and
the request log, metrics and API description know the route."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import LiveServer, start_server, stop_server
from tests.support import create_schema, drop_schema
from tracker.web.console.render import COOKIE

KEYS = {
    "sender": "sender-key-0123456789",
    "analyst": "analyst-key-0123456789",
    "auditor": "auditor-key-0123456789",
    "admin": "admin-key-0123456789ab",
}
MAX_BODY = 4 * 1024 * 1024


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(request, tmp_path_factory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("registration")
    if request.param == "sqlite":
        database_url = f"sqlite:///{folder / 'tracker.db'}"
    else:
        database_url = create_schema(request.getfixturevalue("postgres_server"))
    live = start_server(
        database_url, folder / "server.log", lock_timeout="1", body_timeout="1",
        max_body_bytes=str(MAX_BODY),
        api_keys=",".join(f"{role}:{key}" for role, key in KEYS.items()),
    )  # fmt: skip
    try:
        yield live
    finally:
        stop_server(live)
        if request.param == "postgres":
            drop_schema(database_url)


def send(server: LiveServer, body, role: str | None = "sender", **kwargs):
    headers = {"Authorization": f"Bearer {KEYS[role]}"} if role else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with server.client() as client:
        return client.post("/messages/sent", content=content, headers=headers, **kwargs)


def read(server: LiveServer, path: str, role: str = "admin"):
    with server.client() as client:
        return client.get(path, headers={"Authorization": f"Bearer {KEYS[role]}"})


def test_a_sender_key_registers_and_the_stored_ids_are_answered_as_the_webhook_does(server):
    items = [
        {"id_sms": 71001, "sent_at": "2026-12-07T10:00:00Z", "sender": "acme", "parts": 2},
        {"id_sms": "071002", "campaign": "xmas"},
        {"id_sms": "not a number"},
    ]
    answer = send(server, items)
    assert answer.status_code == 200, answer.text
    assert answer.json() == [{"id_sms": 71001}, {"id_sms": "071002"}]
    history = read(server, "/messages/71001/history").json()
    assert history["registration"]["sender"] == "acme"
    assert history["registration"]["sent_at"] == "2026-12-07T10:00:00Z"
    assert send(server, items).json() == answer.json()  # again: acknowledged, nothing new
    assert len(read(server, "/messages/71001/history").json()["registrations"]) == 1


def test_an_admin_registers_too(server):
    assert send(server, [{"id_sms": 71010}], role="admin").json() == [{"id_sms": 71010}]


@pytest.mark.parametrize("role", ["analyst", "auditor"])
def test_a_reading_role_may_not_register(server, role):
    refused = send(server, [{"id_sms": 71020}], role=role)
    assert refused.status_code == 403
    assert "it needs: admin or sender" in refused.json()["detail"]


def test_without_a_key_registering_is_401(server):
    assert send(server, [{"id_sms": 71021}], role=None).status_code == 401


@pytest.mark.parametrize(
    "path",
    ["/messages", "/messages/71001", "/messages/71001/history", "/stats", "/quarantine",
     "/requests", "/changes", "/health/ready", "/metrics", "/ui/", "/ui/messages/71001"],
)  # fmt: skip
def test_a_sender_key_reads_nothing(server, path):
    assert read(server, path, role="sender").status_code == 403


def test_the_console_tells_a_signed_in_sender_which_keys_it_needs(server):
    with server.client(cookies={COOKIE: KEYS["sender"]}) as client:
        page = client.get("/ui/")
    assert page.status_code == 403
    assert "a sender key may not see this page; it needs an admin or analyst or auditor key" in (
        page.text
    )


def test_a_different_registration_is_a_conflict_shown_in_the_history_never_applied(server):
    send(server, [{"id_sms": 71030, "sender": "acme"}])
    assert send(server, [{"id_sms": 71030, "sender": "beta"}]).status_code == 200
    history = read(server, "/messages/71030/history").json()
    assert [g["outcome"] for g in history["registrations"]] == ["registered", "conflict"]
    assert history["registration"]["sender"] == "acme"
    page = read(server, "/ui/messages/71030")
    assert page.status_code == 200 and "conflict: not applied" in page.text


def test_hostile_items_are_each_rejected_with_a_reason_and_acknowledged(server):
    body = (
        b'[{"id_sms": 71040, "sender": "a", "sender": "b"},'
        b'{"id_sms": 71041, "sender": "\\ud800"},'
        b'{"id_sms": 71042, "sent_at": "0001-01-01T00:00:00+01:00"},'
        b'{"id_sms": 71043, "sent_at": "9999-12-31T23:59:59-01:00"},'
        b'{"id_sms": 71044, "campaign": "\xff\xfe"},'
        b'{"id_sms": 71045, "parts": 1e400}]'
    )
    answer = send(server, body)
    assert answer.status_code == 200, answer.text
    assert [a["id_sms"] for a in answer.json()] == list(range(71040, 71046))
    reasons = {
        n: read(server, f"/messages/{n}/history").json()["registrations"][0]["reason"]
        for n in range(71040, 71046)
    }
    assert "given 2 times" in reasons[71040]
    assert "lone surrogate" in reasons[71041]
    assert "out of range" in reasons[71042] and "out of range" in reasons[71043]
    assert "not UTF-8" in reasons[71044]
    assert reasons[71045]  # a number out of range


def test_a_message_whose_only_registration_was_rejected_has_no_summary_and_says_why(server):
    send(server, [{"id_sms": 71090, "parts": "two"}, {"id_sms": 71091, "sender": "acme"}])
    assert read(server, "/messages/71091").json()["state"] == "registered"
    missing = read(server, "/messages/71090")
    assert missing.status_code == 404
    assert missing.json()["detail"] == (
        "no status was received for id_sms 71090, nor a registration that stands"
    )
    assert read(server, "/messages/71090/history").json()["registrations"][0]["reason"]


def test_the_timeline_of_a_registered_message_says_registered_and_never_that_views_lag(server):
    send(server, [{"id_sms": 71095, "parts": 0}, {"id_sms": 71096, "sender": "acme"}])
    registered = read(server, "/ui/messages/71096")
    assert registered.status_code == 200
    assert '<span class="state s-registered">registered</span>' in registered.text
    rejected = read(server, "/ui/messages/71095")
    assert rejected.status_code == 200
    assert "they lag" not in rejected.text
    assert "no report, and no registration stands" in rejected.text


def test_eighty_thousand_repeats_of_one_id_cost_linear_time(server):
    item = b'{"id_sms": 71050, "sender": "acme"}'
    started = time.monotonic()
    answer = send(server, b"[" + b",".join([item] * 80_000) + b"]")
    assert answer.status_code == 200 and answer.json() == [{"id_sms": 71050}]
    assert time.monotonic() - started < 20
    assert len(read(server, "/messages/71050/history").json()["registrations"]) == 1


def test_a_body_that_is_not_an_array_is_400_and_quarantined(server):
    refused = send(server, {"id_sms": 71060})
    assert refused.status_code == 400
    assert refused.json()["detail"] == "expected a JSON array of registrations, got an object"


def test_a_body_past_the_limit_is_413(server):
    assert send(server, b"[" + b" " * (MAX_BODY + 1) + b"]").status_code == 413


def test_a_body_that_comes_too_slowly_is_408(server):
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            b"POST /messages/sent HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {KEYS['sender']}\r\n".encode()
            + b'Content-Length: 100\r\n\r\n[{"id_sms": 7107'
        )
        assert b" 408 " in s.recv(4096).split(b"\r\n", 1)[0]


def test_the_request_log_records_a_registration_and_never_replays_it(server):
    send(server, [{"id_sms": 71070}])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = read(server, "/requests?id_sms=71070").json()["requests"]
        if found:
            break
        time.sleep(0.05)
    [record] = found
    assert record["format"] == "registration" and record["acknowledged"] == 1
    with server.client() as client:
        replay = client.post(
            f"/requests/{record['id']}/replay", headers={"Authorization": f"Bearer {KEYS['admin']}"}
        )
    assert replay.status_code == 409 and "/messages/sent" in replay.json()["detail"]


def test_metrics_count_registrations_by_outcome(server):
    send(server, [{"id_sms": 71080}, {"id_sms": 71080, "parts": 0}])
    metrics = read(server, "/metrics").text
    assert 'tracker_registrations_total{outcome="registered"}' in metrics
    assert 'tracker_registrations_total{outcome="rejected"}' in metrics


def test_the_api_description_documents_the_route(server):
    with server.client() as client:
        described = client.get("/schema/openapi.json").json()["paths"]["/messages/sent"]["post"]
    body = described["requestBody"]["content"]["application/json"]["schema"]
    assert "sent_at" in json.dumps(body) and "413" in described["responses"]


def test_without_keys_registering_is_open_and_the_start_up_warning_says_so(tmp_path):
    live = start_server(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "server.log")
    try:
        assert send(live, [{"id_sms": 71090}], role=None).json() == [{"id_sms": 71090}]
    finally:
        stop_server(live)
    assert "POST /messages/sent) are open to anyone" in live.log.read_text()
