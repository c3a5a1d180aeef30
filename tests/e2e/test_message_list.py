"""An analyst listing messages: filters, and a cursor that never repeats or skips a message."""

from __future__ import annotations

import json
from datetime import UTC, datetime


def post_items(server, items):
    assert server.post(json.dumps(items).encode()).status_code == 200


def listing(server, **params):
    with server.client() as client:
        response = client.get("/messages", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_each_filter_selects_what_it_says(live_server):
    since = datetime.now(UTC).isoformat()
    post_items(live_server, [
        {"id_sms": 9100, "time": "", "state": "send"},
        {"id_sms": 9101, "time": "2026-01-01 12:00:00", "state": "deliver"},
        {"id_sms": 9102, "time": "2026-01-01 12:00:00", "state": "read"},
        {"id_sms": 9103, "time": "2026-01-01 12:00:00", "state": "expired"},
        {"id_sms": 9103, "time": "2026-01-01 12:05:00", "state": "deliver"},  # after expired
        {"id_sms": 9104, "time": "", "state": "mystery"},
    ])  # fmt: skip
    live_server.settled()

    def ids(**params):
        return [
            m["id_sms"] for m in listing(live_server, received_from=since, **params)["messages"]
        ]

    assert ids() == [9100, 9101, 9102, 9103, 9104]
    assert ids(state="deliver") == [9101]
    assert ids(final="true") == [9102, 9103]
    assert ids(final="false") == [9100, 9101, 9104]
    assert ids(conflict="true") == [9103]
    assert ids(received_to=since) == []
    assert ids(received_to=datetime.now(UTC).isoformat()) == [9100, 9101, 9102, 9103, 9104]
    [expired] = listing(live_server, received_from=since, state="expired")["messages"]
    assert (expired["final"], expired["conflict"], expired["reports"]) == (True, True, 2)


def test_paging_while_reports_arrive_repeats_and_skips_nothing(live_server):
    since = datetime.now(UTC).isoformat()
    first = list(range(9200, 9320))
    post_items(live_server, [{"id_sms": n, "time": "", "state": "send"} for n in first])
    live_server.settled()
    seen, cursor, extra = [], None, 9400
    while True:
        params = {"received_from": since, "limit": 25, **({"cursor": cursor} if cursor else {})}
        page = listing(live_server, **params)
        seen += [m["id_sms"] for m in page["messages"]]
        # Meanwhile: updates to listed and unlisted messages, and brand-new messages.
        post_items(live_server, [
            {"id_sms": first[len(seen) % len(first)], "time": "2026-01-01 12:00:00",
             "state": "deliver"},
            {"id_sms": first[-1 - len(seen) % 7], "time": "2026-01-01 12:01:00", "state": "read"},
            {"id_sms": extra, "time": "", "state": "send"},
        ])  # fmt: skip
        extra += 1
        live_server.settled()
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))  # nothing repeated
    assert set(first) <= set(seen)  # nothing that was there is skipped
    assert seen == sorted(seen)


def test_a_cursor_the_api_did_not_give_is_refused(live_server):
    with live_server.client() as client:
        response = client.get("/messages", params={"cursor": "not-a-cursor"})
        too_many = client.get("/messages", params={"limit": 5000})
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]
    assert too_many.status_code == 400


def test_stats_agree_with_the_messages_view(live_server):
    live_server.post(b'[{"id_sms": 9500, "time": "2026-01-01 12:00:00", "state": "read"}]')
    live_server.settled()
    with live_server.client() as client:
        stats = client.get("/stats").json()
        listed, cursor = [], None
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = client.get("/messages", params=params).json()
            listed += page["messages"]
            if (cursor := page["next"]) is None:
                break
    assert stats["messages"] == len(listed) == sum(s["messages"] for s in stats["states"])
    assert stats["final"] == sum(m["final"] for m in listed)
    assert stats["conflicts"] == sum(m["conflict"] for m in listed)
    assert stats["final_share"] == stats["final"] / stats["messages"]
    assert stats["delivery"]["deliveries"] >= 1
    assert stats["per_day"][-1]["day"] == datetime.now(UTC).date().isoformat()


def test_quarantine_lists_what_named_no_message_with_the_reason(live_server):
    body = b'[{"id_sms": 9600, "time": "", "state": "send"}, {"id_sms": "x-9600"}]'
    live_server.post(body)
    live_server.post(body)  # the platform sends unacknowledged items again
    assert live_server.post(b'{"not": "an array"}').status_code == 400
    live_server.settled()
    with live_server.client() as client:
        listed = client.get("/quarantine", params={"limit": 1000}).json()
    items = {i["raw"]: i for i in listed["items"]}
    item = items['{"id_sms": "x-9600"}']
    assert (item["kind"], item["receipts"]) == ("item", 2)
    assert item["reason"] == 'id_sms "x-9600" is not an integer from 0 to 2^63-1'
    whole = items['{"not": "an array"}']
    assert (whole["kind"], whole["reason"]) == (
        "body",
        "expected a JSON array of statuses, got an object",
    )
    assert listed["total"] >= 2


def test_the_quarantine_pages_and_cuts_raw_items_each_whole_at_its_own_address(live_server):
    huge = json.dumps({"id_sms": "y-9650", "pad": "é" * 60_000})  # ~120 KB of UTF-8
    small = [json.dumps({"id_sms": f"y-965{n}"}) for n in range(1, 6)]
    live_server.post(f"[{huge}, {', '.join(small)}]".encode())
    live_server.settled()
    seen: list[dict] = []
    with live_server.client() as client:
        cursor = None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = client.get("/quarantine", params=params).json()
            assert len(page["items"]) <= 2
            seen += page["items"]
            if not (cursor := page["next"]):
                break
        ids = [i["id"] for i in seen]
        assert len(ids) == len(set(ids)) == page["total"]  # nothing repeated, nothing skipped
        by_raw = {i["raw"][:30]: i for i in seen}
        cut = by_raw[huge[:30]]
        assert (cut["truncated"], len(cut["raw"])) == (True, 4096)
        assert cut["raw_bytes"] == len(huge.encode()) and huge.startswith(cut["raw"])
        whole = client.get(f"/quarantine/{cut['id']}").json()
        assert (whole["raw"], whole["truncated"]) == (huge, False)
        for raw in small:
            item = by_raw[raw[:30]]
            assert (item["raw"], item["truncated"], item["raw_bytes"]) == (raw, False, len(raw))
        assert client.get("/quarantine/" + "0" * 32).status_code == 404
        assert client.get("/quarantine", params={"cursor": "bogus"}).status_code == 400
