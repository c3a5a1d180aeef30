"""Health endpoints and the views kept live by the server, over real HTTP."""

from __future__ import annotations

import json
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


def scrape(server) -> dict[str, float]:
    with server.client() as client:
        text = client.get("/metrics").text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def growth(before: dict[str, float], after: dict[str, float]):
    """How much a metric's sample grew between two scrapes (one absent counts as 0)."""
    return lambda name: after.get(name, 0.0) - before.get(name, 0.0)


def test_metrics_count_what_the_webhook_did(live_server):
    before = scrape(live_server)
    live_server.post(
        b'[{"id_sms": 7800, "time": "", "state": "send"},'
        b' {"id_sms": 7800, "time": "", "state": "send"},'
        b' {"id_sms": "7801", "time": "2026-01-01 12:00:00", "state": "deliver"},'
        b' {"id_sms": -7}]'
    )
    live_server.post(b"not json")
    live_server.settled()
    time.sleep(0.5)  # the projector reports its lag after its next poll
    after = scrape(live_server)
    grew = growth(before, after)

    assert grew('tracker_reports_total{outcome="applied"}') == 2
    assert grew('tracker_reports_total{outcome="duplicate"}') == 1
    assert grew("tracker_acknowledged_ids_total") == 2
    assert grew('tracker_quarantined_total{kind="item"}') == 1
    assert grew('tracker_quarantined_total{kind="body"}') == 1
    assert after["tracker_projection_lag_events"] == 0
    assert any(
        name.startswith("litestar_request_duration_seconds_bucket") and "/webhooks/webcom" in name
        for name in after
    )


def test_each_request_is_one_json_log_line_without_its_query_string(live_server):
    marker = f"/messages/{int(time.time() * 1000)}"
    with live_server.client() as client:
        client.get(marker, params={"token": "s3cret-in-the-query"})
    time.sleep(0.2)
    text = live_server.log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if f'"path":"{marker}"' in line]
    assert len(lines) == 1
    assert (lines[0]["method"], lines[0]["status"]) == ("GET", 404)
    assert lines[0]["ms"] >= 0
    assert "s3cret-in-the-query" not in text


def test_the_openapi_schema_describes_every_endpoint_without_network(live_server):
    with live_server.client() as client:
        schema = client.get("/schema/openapi.json").json()
    assert set(schema["paths"]) >= {
        "/webhooks/webcom", "/messages", "/messages/{id_sms}", "/messages/{id_sms}/history",
        "/stats", "/quarantine", "/health/live", "/health/ready", "/metrics",
    }  # fmt: skip
    listing = schema["paths"]["/messages"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "state", "final", "conflict", "received_from", "received_to", "limit", "cursor"
    }  # fmt: skip


def test_the_root_leads_to_the_console_whose_address_the_start_up_log_gives(live_server):
    with live_server.client() as client:
        root = client.get("/")
    assert (root.status_code, root.headers["location"]) == (302, "/ui/")
    port = live_server.base_url.rsplit(":", 1)[1]
    log = live_server.log.read_text()
    assert f"web console at http://127.0.0.1:{port}/ui/" in log
    assert f"webhook at http://127.0.0.1:{port}/webhooks/webcom" in log
