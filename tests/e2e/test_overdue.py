"""Overdue messages over real HTTP: the list's filter, each message's flag, /stats and the
gauge in /metrics, all as of the server's clock with the default TRACKER_OVERDUE_AFTER (72h)."""

from __future__ import annotations

from tests.e2e.aged import NOT_OVERDUE, OVERDUE, aged_server  # noqa: F401 (a fixture)
from tests.e2e.test_health_and_views import scrape


def listed(server, **params) -> dict[int, bool]:
    with server.client() as client:
        response = client.get("/messages", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return {m["id_sms"]: m["overdue"] for m in response.json()["messages"]}


def test_the_list_filters_on_overdue_and_each_message_says_whether_it_is(aged_server):  # noqa: F811
    assert listed(aged_server, overdue="true") == dict.fromkeys(OVERDUE, True)
    assert listed(aged_server, overdue="false") == dict.fromkeys(NOT_OVERDUE, False)
    assert listed(aged_server) == {**dict.fromkeys(OVERDUE, True),
                                   **dict.fromkeys(NOT_OVERDUE, False)}  # fmt: skip
    assert listed(aged_server, overdue="true", state="send") == {8001: True}
    assert listed(aged_server, overdue="true", final="true") == {}
    with aged_server.client() as client:
        assert client.get("/messages/8001").json()["overdue"] is True
        assert client.get("/messages/8003").json()["overdue"] is False
        bad = client.get("/messages", params={"overdue": "soon"})
    assert bad.status_code == 400 and bad.json()["detail"].startswith("overdue: ")


def test_stats_and_the_gauge_count_the_overdue_messages(aged_server):  # noqa: F811
    with aged_server.client() as client:
        stats = client.get("/stats").json()
    assert (stats["overdue"], stats["overdue_after_seconds"]) == (len(OVERDUE), 72 * 3600)
    assert scrape(aged_server)["tracker_overdue_messages"] == len(OVERDUE)


def test_a_final_report_ends_a_messages_being_overdue_and_new_ones_are_not(aged_server):  # noqa: F811
    assert (
        aged_server.post(
            b'[{"id_sms": 8001, "time": "2026-03-01 12:00:00", "state": "not_deliver"},'
            b' {"id_sms": 8005, "time": "", "state": "send"}]'
        ).status_code
        == 200
    )
    aged_server.settled()
    remaining = [n for n in OVERDUE if n != 8001]
    assert listed(aged_server, overdue="true") == dict.fromkeys(remaining, True)
    assert listed(aged_server)[8005] is False
    with aged_server.client() as client:
        assert client.get("/stats").json()["overdue"] == len(remaining)
    assert scrape(aged_server)["tracker_overdue_messages"] == len(remaining)
