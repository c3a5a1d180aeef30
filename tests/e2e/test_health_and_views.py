"""Health endpoints and the views kept live by the server, over real HTTP."""

from __future__ import annotations

import time


def test_liveness_needs_nothing_but_the_process(live_server):
    with live_server.client() as client:
        response = client.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "live"})


def test_readiness_reports_the_projection_lag_which_the_server_closes_by_itself(live_server):
    with live_server.client() as client:
        before = client.get("/health/ready").json()["projection"]["head"]
        client.post(
            "/webhooks/webcom",
            content=b'[{"id_sms": 7700, "time": "2026-01-01 12:00:00", "state": "read"}]',
        )
        deadline = time.monotonic() + 10
        while True:
            ready = client.get("/health/ready").json()
            if ready["projection"]["lag"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        state = client.get("/messages/7700").json()
    assert ready["status"] == "ready"
    assert ready["projection"]["head"] > before
    assert ready["projection"]["position"] == ready["projection"]["head"]
    assert (state["state"], state["final"]) == ("read", True)
