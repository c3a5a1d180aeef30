"""Read-side API keys with roles, and the webhook's sender allow-list, through a real server."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import BODY, KEYS, start_server, stop_server

# Every endpoint but the webhook, with the roles that may use it. Admin may use everything.
ENDPOINTS = {
    ("GET", "/messages"): {"analyst", "admin"},
    ("GET", "/messages/4100"): {"analyst", "admin"},
    ("GET", "/stats"): {"analyst", "admin"},
    ("GET", "/export/messages"): {"analyst", "admin"},
    ("GET", "/export/reports?format=jsonl"): {"analyst", "admin"},
    ("GET", "/messages/4100/history"): {"auditor", "admin"},
    ("GET", "/messages/4100/reports/0"): {"auditor", "admin"},
    ("GET", "/quarantine"): {"auditor", "admin"},
    ("GET", "/messages/4100/proof"): {"auditor", "admin"},
    ("GET", "/audit/digest"): {"auditor", "admin"},
    ("GET", "/audit/public-key"): {"auditor", "admin"},
    ("GET", "/forwarding"): {"auditor", "admin"},
    ("GET", "/admin/rebuild"): {"admin"},
    ("POST", "/admin/rebuild"): {"admin"},
    ("GET", "/metrics"): {"admin"},
    ("GET", "/health/ready"): {"auditor", "analyst", "admin"},
    ("GET", "/changes"): {"auditor", "analyst", "admin"},
}
OPEN = [("GET", "/health/live"), ("GET", "/schema/openapi.json")]


def call(server, method, path, key=None, header="authorization"):
    headers = {}
    if key is not None:
        headers = {"Authorization": f"Bearer {key}"} if header == "authorization" else {header: key}
    with server.client() as client:
        return client.request(method, path, headers=headers)


@pytest.mark.parametrize(("method", "path"), list(ENDPOINTS))
@pytest.mark.parametrize("role", ["auditor", "analyst", "admin"])
def test_each_role_reaches_exactly_its_endpoints(keyed, role, method, path):
    response = call(keyed, method, path, KEYS[role])
    if role in ENDPOINTS[(method, path)]:
        assert response.status_code in (200, 202, 409), response.text  # 409: a rebuild running
    else:
        assert response.status_code == 403
        assert "may not use this" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path"), list(ENDPOINTS))
@pytest.mark.parametrize("key", [None, "not-a-key-at-all-0123", KEYS["admin"] + "x"])
def test_without_a_known_key_every_read_endpoint_is_401(keyed, key, method, path):
    response = call(keyed, method, path, key)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_key_sent_in_another_scheme_is_not_taken(keyed):
    with keyed.client() as client:
        response = client.get("/stats", headers={"Authorization": f"Basic {KEYS['admin']}"})
    assert response.status_code == 401


def test_the_key_may_also_come_in_an_x_api_key_header(keyed):
    assert call(keyed, "GET", "/stats", KEYS["analyst"], header="x-api-key").status_code == 200
    assert call(keyed, "GET", "/stats", KEYS["auditor"], header="x-api-key").status_code == 403


@pytest.mark.parametrize(("method", "path"), OPEN)
def test_liveness_and_the_api_description_stay_open(keyed, method, path):
    assert call(keyed, method, path).status_code == 200


def test_the_webhook_does_not_take_api_keys_and_keys_never_reach_the_log(keyed):
    assert keyed.post(BODY).status_code == 200  # no key needed: tokens guard the webhook
    call(keyed, "GET", "/stats", KEYS["analyst"])
    call(keyed, "GET", "/stats", "a-wrong-guess-of-a-key-0")
    log = keyed.log.read_text()
    for secret in [*KEYS.values(), "a-wrong-guess-of-a-key-0"]:
        assert secret not in log


def test_an_admin_rebuilds_the_views_over_http(keyed):
    started = call(keyed, "POST", "/admin/rebuild", KEYS["admin"])
    assert started.status_code in (202, 409)
    deadline = time.monotonic() + 30
    while (status := call(keyed, "GET", "/admin/rebuild", KEYS["admin"]).json())["state"] in (
        "running", "idle"
    ) and time.monotonic() < deadline:  # fmt: skip
        time.sleep(0.1)
    assert status["state"] == "done", status
    assert status["events"] >= 1
    assert set(status["checksums"]) == {
        "messages", "state_counts", "delivery_times", "quarantine", "changes", "breakdown",
        "breakdown_times",
    }  # fmt: skip
    state = call(keyed, "GET", "/messages/4100", KEYS["analyst"]).json()
    assert state["state"] == "send"


def test_metrics_can_be_left_open_for_a_scraper_without_keys(tmp_path):
    server = start_server(
        f"sqlite:///{tmp_path / 'tracker.db'}",
        tmp_path / "server.log",
        api_keys=f"analyst:{KEYS['analyst']}",
        metrics_open="true",
    )
    try:
        assert call(server, "GET", "/metrics").status_code == 200
        assert call(server, "GET", "/stats").status_code == 401
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    ("allow", "expected"), [("10.0.0.0/8,192.0.2.0/24", 403), ("10.0.0.0/8, 127.0.0.0/8", 200)]
)
def test_the_webhook_takes_statuses_only_from_allowed_networks(tmp_path, allow, expected):
    server = start_server(
        f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "server.log", webhook_allow=allow
    )
    try:
        response = server.post(BODY)
        assert response.status_code == expected
        tracker = server.open_store()
        stored = tracker.history(4100)
        tracker.close()
        assert len(stored) == (1 if expected == 200 else 0)
    finally:
        stop_server(server)
