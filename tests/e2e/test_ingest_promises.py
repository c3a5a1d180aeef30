"""The webhook's promises tried as a hostile sender would, through real HTTP: a readable id is
always stored and acknowledged, nothing in one item costs another, an answer claims only what
is known, and what was sent is kept (docs/webhook.md)."""

from __future__ import annotations

import base64
import csv
import io
import json
import sqlite3
import time

import msgspec
import psycopg
import pytest

from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_webhook import hold_the_store
from tests.support import server_url
from tracker.read.export import report_rows
from tracker.stores.postgres.events import EVENTS_TABLE as POSTGRES_EVENTS
from tracker.stores.sqlite.events import EVENTS_TABLE as SQLITE_EVENTS

GOOD = b'{"id_sms": 8000, "time": "2011-01-01 12:00:00", "state": "send"}'


def post(server, body: bytes):
    return server.post(body)


def history(server, id_sms) -> dict:
    with server.client() as client:
        answer = client.get(f"/messages/{id_sms}/history")
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize(
    ("id_sms", "item", "why"),
    [
        (8002, b'"time": "0001-01-01 00:00:00", "state": "deliver"', "no UTC instant"),
        (8003, b'"time": 1e400, "state": "deliver"', "a number out of range"),
        (8004, b'"time": ' + b"9" * 5000 + b', "state": "deliver"', "a number out of range"),
        (8005, b'"time": "", "state": "\\ud800"', "lone surrogate"),
        (8007, b'"time": "", "state": ' + b"[" * 20_000 + b"]" * 20_000, "nested too deeply"),
        (8008, b'"state": "send", "state": "deliver", "time": ""', "given 2 times"),
    ],
)
def test_an_odd_value_in_one_item_is_a_rejected_report_and_its_id_acknowledged(
    live_server, id_sms, item, why
):
    """Every attempt at such a body once answered 503 or 400: five tries, and the whole batch
    was lost. Now the item is in its message's history as rejected, with the reason and the
    raw item, and both ids are acknowledged."""
    bad = b'{"id_sms": %d, ' % id_sms + item + b"}"
    response = post(live_server, b"[" + GOOD + b", " + bad + b"]")
    assert (response.status_code, response.json()) == (200, [{"id_sms": 8000}, {"id_sms": id_sms}])
    [report] = history(live_server, id_sms)["reports"]
    assert report["outcome"] == "rejected" and why in report["reason"], report["reason"]
    assert report["state_after"] is None
    if report["raw"] is None:  # the documented form: its state and time say all it said
        assert bad == b'{"id_sms": %d, "time": "%s", "state": "%s"}' % (
            id_sms,
            report["time"].encode(),
            report["state"].encode(),
        )
    else:  # a page cuts a long raw item: the report's own address has it whole
        with live_server.client() as client:
            whole = client.get(f"/messages/{id_sms}/reports/{report['position']}").json()
        assert whole["raw"] == bad.decode() and bad.decode().startswith(report["raw"])
    assert "send" in [r["state"] for r in history(live_server, 8000)["reports"]]


def test_an_id_is_acknowledged_only_with_every_item_it_has_in_its_history(live_server):
    """Its second item holds bytes that are not UTF-8: acknowledged once both are in 8006's
    history, the second rejected with its raw bytes kept (it once sat only in quarantine)."""
    second = b'{"id_sms": 8006, "time": "", "state": "de\xffliver"}'
    body = b'[{"id_sms": 8006, "time": "", "state": "send"}, ' + second + b"]"
    response = post(live_server, body)
    assert (response.status_code, response.json()) == (200, [{"id_sms": 8006}])
    first, rejected = history(live_server, 8006)["reports"]
    assert (first["state"], first["outcome"]) == ("send", "applied")
    assert rejected["outcome"] == "rejected" and "not UTF-8" in rejected["reason"]
    assert rejected["raw_encoding"] == "base64"
    assert base64.b64decode(rejected["raw"]) == second
    assert post(live_server, body).json() == [{"id_sms": 8006}]  # a resend: nothing new
    assert len(history(live_server, 8006)["reports"]) == 2


def test_the_id_is_shown_as_the_platform_sent_it(live_server):
    body = b'[{"id_sms": "03234", "time": "", "state": "send"}, {"id_sms": 3234, "time": "", "s'
    body += (
        b'tate": "deliver"}, {"id_sms": "3234", "time": "2011-01-01 12:00:00", "state": "read"}]'
    )
    answer = post(live_server, body).json()
    assert answer == [{"id_sms": "03234"}, {"id_sms": 3234}, {"id_sms": "3234"}]
    reports = history(live_server, 3234)["reports"]
    assert [r["id_sms"] for r in reports] == ["03234", 3234, "3234"]
    live_server.settled()
    with live_server.client() as client:
        jsonl = client.get("/export/reports", params={"format": "jsonl"}).text.splitlines()
        csv_text = client.get("/export/reports", params={"format": "csv"}).text
    rows = [json.loads(line) for line in jsonl]
    assert [r["id_sms_as_sent"] for r in rows if r["id_sms"] == 3234] == ["03234", 3234, "3234"]
    cells = [r["id_sms_as_sent"] for r in csv.DictReader(io.StringIO(csv_text))
             if r["id_sms"] == "3234"]  # fmt: skip
    assert cells == ['"03234"', "3234", '"3234"']  # a CSV cell of text: the value's JSON


def test_a_body_of_one_id_with_40000_reports_is_stored_whole_and_acknowledged(live_server):
    """Linear in the reports of a message (it once took 25.6 s; bench/one_message.py times
    it), and committed in slices so that other senders are served between them."""
    items = [
        {"id_sms": 8100, "time": f"2012-01-01 {n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}",
         "state": "deliver"}
        for n in range(40_000)
    ]  # fmt: skip
    response = post(live_server, msgspec.json.encode(items))
    assert (response.status_code, response.json()) == (200, [{"id_sms": 8100}])
    other = post(live_server, b'[{"id_sms": 8101, "time": "", "state": "send"}]')
    assert other.json() == [{"id_sms": 8101}]
    tracker = live_server.open_store()
    try:
        assert len(tracker.history(8100)) == 40_000
    finally:
        tracker.close()


def test_a_body_of_one_id_repeated_80000_times_is_one_report(live_server):
    item = b'{"id_sms": 8102, "time": "2012-01-01 00:00:00", "state": "read"},'
    body = b"[" + item * 80_000 + b'{"id_sms": 8103, "time": "", "state": "send"}]'
    assert len(body) > 5_000_000
    response = post(live_server, body)
    assert (response.status_code, response.json()) == (200, [{"id_sms": 8102}, {"id_sms": 8103}])
    assert len(history(live_server, 8102)["reports"]) == 1


def test_an_answer_never_claims_a_batch_was_not_stored_when_its_receipt_is_late(tmp_path):
    """The writer's receipt comes after the request gave up waiting: the 503 says the batch may
    still be committed (it once said "nothing was stored"), and the resend is acknowledged
    without a second copy of anything."""
    server = start_server(
        f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "server.log",
        lock_timeout="10", receipt_timeout="0.5",
    )  # fmt: skip
    body = b'[{"id_sms": 8200, "time": "2011-01-01 12:00:00", "state": "deliver"}]'
    try:
        with hold_the_store(server):
            response = post(server, body)
            time.sleep(0.5)  # the writer still waits for the lock, then commits
        assert response.status_code == 503
        detail = response.json()["detail"]
        assert "may still commit the batch" in detail and "nothing of it is acknowledged" in detail
        assert "nothing was stored" not in detail
        again = post(server, body)  # the platform's next attempt
        assert (again.status_code, again.json()) == (200, [{"id_sms": 8200}])
        tracker = server.open_store()
        try:
            assert [row["id_sms"] for row in report_rows(tracker)] == [8200]  # one copy
        finally:
            tracker.close()
    finally:
        stop_server(server)


def test_reports_lost_with_a_restore_under_a_running_server_are_stored_again(live_server):
    """The store is rolled back to an earlier position behind the running server's back (a
    restore from a backup, a failover to a lagging replica); the platform sends the lost
    reports again, and they are stored again rather than taken for repeats of what the
    writer remembered."""
    first = b'[{"id_sms": 8300, "time": "", "state": "send"}]'
    assert post(live_server, first).json() == [{"id_sms": 8300}]
    tracker = live_server.open_store()
    try:
        position = tracker.recorder.max_notification_id()
    finally:
        tracker.close()
    lost = b'[{"id_sms": 8300, "time": "2011-01-01 12:00:00", "state": "deliver"}, '
    lost += b'{"id_sms": 8301, "time": "", "state": "send"}]'
    assert post(live_server, lost).json() == [{"id_sms": 8300}, {"id_sms": 8301}]
    restore_to(live_server, position)
    assert post(live_server, lost).json() == [{"id_sms": 8300}, {"id_sms": 8301}]
    assert [r["state"] for r in history(live_server, 8300)["reports"]] == ["send", "deliver"]
    assert [r["state"] for r in history(live_server, 8301)["reports"]] == ["send"]


def restore_to(server, position: int) -> None:
    """Drop every event after ``position``, with the database owner's rights (triggers off)."""
    url = server.database_url
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            dropped = conn.execute(
                f"DELETE FROM {SQLITE_EVENTS} WHERE notification_id > ?", [position]
            ).rowcount
        assert dropped > 0, "the restore dropped no event"
        return
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(server_url(url), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # the append-only triggers too
        dropped = conn.execute(
            f'DELETE FROM "{schema}".{POSTGRES_EVENTS} WHERE notification_id > %s', [position]
        ).rowcount
    assert dropped > 0, "the restore dropped no event"


def test_a_pretty_printed_body_with_one_odd_item_stores_every_item(live_server):
    """One item that no decoder takes (a tab in a string) sends the body to the scan of JSON's
    grammar; its items once kept the spaces before each comma and bracket and were all
    quarantined, 8400's second item among them, while 8400 was acknowledged."""
    body = (
        b'[\n  {"id_sms": 8400, "state": "send", "time": "2024-01-01 10:00:00"} ,\n'
        b'  {"id_sms": 8401, "state": "x\ty", "time": "2024-01-01 10:00:00"},\n'
        b'  {"id_sms": 8400, "state": "deliver", "time": "2024-01-01 10:05:00"}\n]'
    )
    assert post(live_server, body).json() == [{"id_sms": 8400}, {"id_sms": 8401}]
    assert [r["state"] for r in history(live_server, 8400)["reports"]] == ["send", "deliver"]
    assert history(live_server, 8401)["reports"][0]["outcome"] == "rejected"
