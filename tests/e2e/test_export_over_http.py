"""Analysts download the messages view or every report over HTTP, streamed."""

from __future__ import annotations

import csv
import io

import msgspec

IDS = range(7700, 7760)


def test_the_messages_export_holds_the_same_rows_as_the_messages_list(live_server):
    body = [{"id_sms": i, "time": "2024-05-01 10:00:00", "state": "send"} for i in IDS]
    body += [{"id_sms": i, "time": "2024-05-01 10:00:05", "state": "deliver"} for i in IDS[::2]]
    assert live_server.post(msgspec.json.encode(body)).status_code == 200
    live_server.settled()
    with live_server.client() as client:
        response = client.get("/export/messages")
        listed = client.get("/messages", params={"limit": 1000}).json()["messages"]
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="messages.csv"' in response.headers["content-disposition"]
    exported = {int(r["id_sms"]): r for r in csv.DictReader(io.StringIO(response.text))}
    assert {m["id_sms"]: m["state"] for m in listed} == {i: r["state"] for i, r in exported.items()}
    assert exported[IDS[0]]["state"] == "deliver" and exported[IDS[1]]["state"] == "send"


def test_the_reports_export_holds_every_report_and_the_raw_text_of_unusual_ones(live_server):
    body = b'[{"id_sms": 7800, "time": "2024-05-01 10:00:00", "state": "send"},'
    body += b' {"id_sms": 7800, "time": "2024-05-01 10:00:09", "state": "read", "via": "viber"}]'
    assert live_server.post(body).status_code == 200
    with live_server.client() as client:
        response = client.get("/export/reports", params={"format": "jsonl"})
    rows = [msgspec.json.decode(line) for line in response.content.splitlines()]
    ours = [r for r in rows if r["id_sms"] == 7800]
    assert [(r["state"], r["outcome"]) for r in ours] == [("send", "applied"), ("read", "applied")]
    assert ours[0]["raw"] is None  # a plain item is its own record
    assert msgspec.json.decode(ours[1]["raw"]) == msgspec.json.decode(body)[1]


def test_an_unknown_export_or_format_is_a_clear_error(live_server):
    with live_server.client() as client:
        unknown = client.get("/export/everything")
        response = client.get("/export/messages", params={"format": "parquet"})
    assert unknown.status_code == 400
    assert response.status_code == 400
    assert "kind" in str(unknown.json()) and "format" in str(response.json())
