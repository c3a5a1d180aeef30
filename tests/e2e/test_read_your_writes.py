"""An acknowledged status is readable at once: GET /messages/{id} never answers from a view that
has not yet taken it in, and answers in the shape the list gives."""

from __future__ import annotations

import httpx

from tracker.domain.status import Report, fold
from tracker.domain.timestamps import parse_time, zone

MOSCOW = zone("Europe/Moscow")


def test_five_hundred_posts_each_read_back_at_once_are_never_stale(live_server):
    times = [f"2026-02-01 10:{n // 60:02d}:{n % 60:02d}" for n in range(500)]
    posted: dict[int, list[Report]] = {}
    with live_server.client() as client:
        for n, time in enumerate(times):
            id_sms = 9700 + n % 25  # 25 messages, each with a view row that falls behind
            state = ("send", "partly_deliver", "deliver")[n % 3]
            body = f'[{{"id_sms": {id_sms}, "time": "{time}", "state": "{state}"}}]'
            answer = client.post("/webhooks/webcom", content=body.encode())
            assert answer.json() == [{"id_sms": id_sms}]
            held = posted.setdefault(id_sms, [])
            held.append(Report(state, time, parse_time(time, MOSCOW)))
            expected = fold(held)
            message = client.get(f"/messages/{id_sms}").json()
            assert (message["state"], message["time"], message["reports"]) == (
                expected.state, expected.time, len(held)
            ), n  # fmt: skip


def test_a_message_reads_as_its_row_in_the_list(live_server):
    live_server.post(
        b'[{"id_sms": 9760, "time": "2026-02-01 10:00:00", "state": "read"},'
        b' {"id_sms": 9760, "time": "2026-02-01 10:05:00", "state": "deliver"}]'
    )
    live_server.settled()
    with live_server.client() as client:
        alone = client.get("/messages/9760").json()
        listed = client.get("/messages", params={"state": "read", "limit": 1000}).json()
    [row] = [m for m in listed["messages"] if m["id_sms"] == 9760]
    assert alone == row and alone["conflict"] is True


def test_an_unknown_message_is_404_and_names_it(live_server):
    with httpx.Client(base_url=live_server.base_url) as client:
        answer = client.get("/messages/9799")
    assert answer.status_code == 404 and "9799" in answer.json()["detail"]
