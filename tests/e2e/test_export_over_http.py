"""Analysts download the messages view or every report over HTTP, streamed."""

from __future__ import annotations

import csv
import io
from datetime import datetime

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


def test_the_api_and_the_exports_write_every_time_as_iso_8601_utc_with_z(live_server):
    body = [{"id_sms": 7900, "time": "2024-05-01 10:00:00", "state": "deliver"}]
    assert live_server.post(msgspec.json.encode(body)).status_code == 200
    live_server.settled()
    later, past = "2100-01-01T03:00:00+03:00", "2000-01-01T03:00:00+03:00"
    with live_server.client() as client:
        listed = client.get("/messages", params={"limit": 1000}).json()["messages"]
        history = client.get("/messages/7900/history", params={"as_of": later}).json()
        before = client.get("/messages/7900/history", params={"as_of": past})
        exported = client.get("/export/messages").text
        reports = client.get("/export/reports", params={"format": "jsonl"}).content
    summary = next(m for m in listed if m["id_sms"] == 7900)
    row = next(r for r in csv.DictReader(io.StringIO(exported)) if r["id_sms"] == "7900")
    report = next(r for r in map(msgspec.json.decode, reports.splitlines()) if r["id_sms"] == 7900)
    assert history["as_of"] == "2100-01-01T00:00:00Z"  # asked with +03:00, answered in UTC
    assert "by 2000-01-01T00:00:00Z" in before.json()["detail"]
    assert summary["instant"] == history["reports"][0]["instant"] == "2024-05-01T07:00:00Z"
    assert row["instant"] == report["instant"] == "2024-05-01T07:00:00.000000Z"
    api_times = [summary[f] for f in ("first_received_at", "last_received_at")]
    api_times.append(history["reports"][0]["received_at"])
    export_times = [row["first_received_at"], row["last_received_at"], report["received_at"]]
    for api, exported_time in zip(api_times, export_times, strict=True):
        assert api.endswith("Z") and exported_time.endswith("Z")
        assert datetime.fromisoformat(api) == datetime.fromisoformat(exported_time)
