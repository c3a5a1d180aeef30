"""An auditor's view of a message: every report, what it did, the message as of any instant."""

from __future__ import annotations

import time


def test_history_shows_the_state_after_each_report(live_server):
    live_server.post(b'[{"id_sms": 8100, "time": "2026-01-01 12:05:00", "state": "deliver"}]')
    live_server.post(
        b'[{"id_sms": 8100, "time": "2026-01-01 12:03:00", "state": "expired"},'
        b' {"id_sms": 8100, "time": "2026-01-01 12:09:00", "state": "read"}]'
    )
    with live_server.client() as client:
        history = client.get("/messages/8100/history").json()
    assert [(r["state"], r["outcome"], r["state_after"]) for r in history["reports"]] == [
        ("deliver", "applied", "deliver"),
        ("expired", "applied", "expired"),  # an earlier final state, arriving late, wins
        ("read", "rejected", "expired"),
    ]
    assert (history["state"], history["as_of"]) == ("expired", None)


def test_as_of_an_instant_is_the_history_truncated_there(live_server):
    bodies = [
        b'[{"id_sms": 8200, "time": "", "state": "send"}]',
        b'[{"id_sms": 8200, "time": "2026-01-01 12:05:00", "state": "deliver"}]',
        b'[{"id_sms": 8200, "time": "2026-01-01 12:06:00", "state": "not_deliver"}]',
    ]
    for body in bodies:
        live_server.post(body)
        time.sleep(0.05)  # distinct receipt instants
    with live_server.client() as client:
        full = client.get("/messages/8200/history").json()["reports"]
        for cut in range(len(full)):
            as_of = full[cut]["received_at"]
            then = client.get("/messages/8200/history", params={"as_of": as_of}).json()
            assert then["reports"] == full[: cut + 1]
            assert then["state"] == full[cut]["state_after"]
        before_all = client.get("/messages/8200/history", params={"as_of": "2020-01-01T00:00:00"})
    assert before_all.status_code == 404
    assert "by 2020-01-01T00:00:00Z" in before_all.json()["detail"]
