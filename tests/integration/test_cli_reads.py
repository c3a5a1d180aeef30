"""The read side at a terminal: tables for people, and with --json exactly the API's JSON."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from tests.support import run_cli
from tracker.application import Status, Unusable
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.quarantine import ITEM
from tracker.read import queries
from tracker.views.projector import Projector

T0 = datetime(2026, 4, 1, 8, tzinfo=UTC)


@pytest.fixture
def store(sqlite_url):
    tracker = open_tracker(Settings(database_url=sqlite_url))
    views = open_views(tracker)
    tracker.record(
        [Status(1, "send", ""), Status(2, "expired", "2026-04-01 11:00:00")],
        [Unusable(ITEM, "5", "item is a number, not an object")],
        received_at=T0,
    )
    tracker.record([Status(1, "deliver", "2026-04-01 11:00:30"),
                    Status(2, "deliver", "2026-04-01 11:01:00")],
                   received_at=T0 + timedelta(seconds=30))  # fmt: skip
    Projector(tracker, views).catch_up()
    yield sqlite_url, tracker, views
    tracker.close()


def test_json_output_is_the_apis_answer(store):
    url, tracker, views = store
    expected = {
        ("history", "2"): queries.history(tracker, 2),
        ("messages",): queries.list_messages(views, limit=50),
        ("stats",): queries.stats(views),
        ("quarantine",): queries.quarantine(views, 50),
    }
    for args, answer in expected.items():
        result = run_cli(url, *args, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == json.loads(msgspec.json.encode(answer))


def test_tables_show_what_a_person_looks_for(store):
    url, _, _ = store
    history = run_cli(url, "history", "2").stdout
    assert "id_sms 2: expired" in history and "rejected" in history
    assert "expired" in run_cli(url, "messages", "--final").stdout
    assert "1 with a conflict" in run_cli(url, "stats").stdout
    assert "item is a number" in run_cli(url, "quarantine").stdout


def test_history_as_of_and_unknown_ids(store):
    url, _, _ = store
    early = json.loads(
        run_cli(url, "history", "1", "--as-of", "2026-04-01 08:00:10", "--json").stdout
    )
    assert [r["state"] for r in early["reports"]] == ["send"]
    missing = run_cli(url, "history", "404")
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        "no status was received for id_sms 404",
    )
    assert run_cli(url, "history", "abc").returncode == 2


def test_the_history_table_shows_the_id_as_sent_and_why_a_report_was_rejected(sqlite_url):
    tracker = open_tracker(Settings(database_url=sqlite_url))
    try:
        rejected = Status(3234, "deliver", "", reason="the key state is given 2 times")
        tracker.record([Status(3234, "send", "", sent="03234"), rejected])
    finally:
        tracker.close()
    table = run_cli(sqlite_url, "history", "3234").stdout
    assert '"03234"' in table and "│ 3234 " in table  # a string as sent, then a number
    # the reason folds within its cell (other cells' words come between), nothing cut
    words = table.split()
    rest = iter(words[words.index("rejected:") :])
    reason = "the key state is given 2 times"
    assert all(word in rest for word in reason.split(" "))


def test_the_history_table_shows_a_polled_report_its_channels_parts_and_price(sqlite_url):
    tracker = open_tracker(Settings(database_url=sqlite_url))
    try:
        tracker.record([Status(77, "deliver", "", channels={"viber": "deliver", "sms": "send"})])
        tracker.record([Status(77, "read", "2024-05-01 10:00:00", source="poll", num_parts=2,
                               price=10.6)])  # fmt: skip
    finally:
        tracker.close()
    words = run_cli(sqlite_url, "history", "77").stdout.split()
    assert "details" in words
    # each report's details fold within their cell (other cells' words come between)
    for said in ("sms: send, viber: deliver", "by poll; 2 part(s) at 10.6 each"):
        rest = iter(words[words.index(said.split()[0]) :])
        assert all(word in rest for word in said.split())
    plain = open_tracker(Settings(database_url=sqlite_url))
    try:
        plain.record([Status(78, "send", "")])
    finally:
        plain.close()
    assert "details" not in run_cli(sqlite_url, "history", "78").stdout  # nothing more to say


def test_the_history_table_says_how_often_a_report_came_and_what_its_repeats_said(sqlite_url):
    tracker = open_tracker(Settings(database_url=sqlite_url))
    try:
        for _ in range(3):  # the webhook's resends, then a poll answering the same
            tracker.record([Status(79, "deliver", "2024-05-01 10:00:00")])
        tracker.record([Status(79, "deliver", "2024-05-01 10:00:00", source="poll", num_parts=1,
                               price=2.5)])  # fmt: skip
    finally:
        tracker.close()
    words = run_cli(sqlite_url, "history", "79").stdout.split()
    said = "1 part(s) at 2.5 each; received 4 times"
    rest = iter(words[words.index("part(s)") - 1 :])
    assert all(word in rest for word in said.split())


def tracker_in(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``tracker ARGS`` in ``folder`` with the store settings given (none: the default)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    return subprocess.run(
        [sys.executable, "-m", "tracker", *args],
        cwd=folder,
        env={**clean, "COLUMNS": "120", **env},
        capture_output=True,
        text=True,
    )


READS = [
    ("history", "3234"),
    ("history", "3234", "--as-of", "2026-11-26T17:12:27Z"),
    ("messages",),
    ("stats",),
    ("quarantine",),
    ("export", "messages", "--out", "m.csv"),
    ("export", "reports", "--out", "r.csv"),
    ("changes",),
    ("rebuild",),
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_reading_in_a_folder_without_a_store_creates_nothing_and_says_where_it_looked(
    tmp_path, args
):
    result = tracker_in(tmp_path, *args)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()  # one line, no traceback
    assert f"no tracker store at {tmp_path / 'var' / 'tracker.db'}" in line
    assert "TRACKER_DATABASE_URL=sqlite:///PATH" in line
    assert list(tmp_path.iterdir()) == []


def test_a_mistyped_store_url_creates_nothing(tmp_path):
    result = tracker_in(tmp_path, "history", "3234", TRACKER_DATABASE_URL="sqlite:///trakcer.db")
    assert result.returncode == 2
    assert f"no tracker store at {tmp_path / 'trakcer.db'}" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_no_tracker_store_is_named_and_left_alone(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE accounts (id INTEGER)")
    before = other.read_bytes()
    result = tracker_in(tmp_path, "stats", TRACKER_DATABASE_URL=f"sqlite:///{other}")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: no tracker events in {other}")
    assert other.read_bytes() == before and sorted(tmp_path.iterdir()) == [other]


def test_a_store_whose_views_were_never_built_says_how_to_build_them(sqlite_url, tmp_path):
    open_tracker(Settings(database_url=sqlite_url)).close()  # events only, as `migrate` leaves
    result = run_cli(sqlite_url, "messages")
    assert result.returncode == 2
    assert "views of the SQLite file" in result.stderr and "tracker rebuild" in result.stderr
    assert not (tmp_path / "tracker.views.db").exists()


@pytest.mark.postgres
def test_a_postgresql_schema_without_tracker_tables_is_refused(postgres_url):
    result = run_cli(postgres_url, "history", "3234")
    assert result.returncode == 2
    assert "no tracker events in PostgreSQL" in result.stderr and "?schema=NAME" in result.stderr


def test_an_as_of_views_file_is_read_with_views_never_taken_for_a_store(store, tmp_path):
    url, _, _ = store
    out = tmp_path / "as-of.sqlite"
    rebuilt = run_cli(url, "rebuild", "--until", "2026-04-01T08:00:10Z", "--out", str(out))
    assert rebuilt.returncode == 0, rebuilt.stderr

    as_store = run_cli(f"sqlite:///{out}", "history", "1")
    assert as_store.returncode == 2
    assert f"{out} holds the tracker's views, not its events" in as_store.stderr
    assert f"--views {out}" in as_store.stderr

    then = run_cli(url, "messages", "--views", str(out), "--json")
    assert then.returncode == 0, then.stderr
    assert {m["id_sms"]: m["state"] for m in json.loads(then.stdout)["messages"]} == {
        1: "send",
        2: "expired",
    }
    assert f"views of {out}, as of 2026-04-01T08:00:10Z" in then.stderr
    now = json.loads(run_cli(url, "messages", "--json").stdout)["messages"]
    assert {m["id_sms"]: m["state"] for m in now} == {1: "deliver", 2: "expired"}
    assert "2 messages" in run_cli(url, "stats", "--views", str(out)).stdout
    assert "item is a number" in run_cli(url, "quarantine", "--views", str(out)).stdout


def test_views_must_name_a_views_file(store, tmp_path):
    url, _, _ = store
    missing = run_cli(url, "stats", "--views", str(tmp_path / "nope.sqlite"))
    assert (missing.returncode, missing.stderr.startswith("error: --views: no file at")) == (
        2,
        True,
    )
    events = run_cli(url, "stats", "--views", url.removeprefix("sqlite:///"))
    assert events.returncode == 2 and "holds no views" in events.stderr


def test_times_are_printed_as_the_api_writes_them_and_platform_times_with_their_offset(store):
    url, _, _ = store
    answer = json.loads(run_cli(url, "history", "2", "--json").stdout)
    table = run_cli(url, "history", "2").stdout
    for report in answer["reports"]:
        assert report["received_at"].endswith("Z") and report["received_at"] in table
    assert "2026-04-01 11:00:00 +03:00" in table  # Moscow time, as the platform sent it
    assert "2026-04-01T08:00:30Z" in run_cli(url, "messages").stdout


AS_OF_FORMS = {
    "as printed, with Z": "2026-04-01T08:00:10Z",
    "with fractional seconds": "2026-04-01T08:00:10.500000Z",
    "with an offset": "2026-04-01T11:00:10+03:00",
    "an explicit +00:00": "2026-04-01T08:00:10+00:00",
    "the platform's form, in UTC": "2026-04-01 08:00:10",
}


@pytest.mark.parametrize("when", AS_OF_FORMS.values(), ids=AS_OF_FORMS.keys())
def test_as_of_takes_every_form_of_a_time_the_tracker_prints(store, when):
    url, _, _ = store
    result = run_cli(url, "history", "1", "--as-of", when, "--json")
    assert result.returncode == 0, result.stderr
    assert [r["state"] for r in json.loads(result.stdout)["reports"]] == ["send"]


def test_as_of_a_printed_receipt_time_includes_that_report(sqlite_url):
    tracker = open_tracker(Settings(database_url=sqlite_url))
    at = datetime(2026, 4, 1, 8, 0, 0, 123456, tzinfo=UTC)
    try:
        tracker.record([Status(7, "send", "")], received_at=at)
        tracker.record([Status(7, "deliver", "")], received_at=at + timedelta(microseconds=1))
    finally:
        tracker.close()
    first = json.loads(run_cli(sqlite_url, "history", "7", "--json").stdout)["reports"][0]
    assert first["received_at"] == "2026-04-01T08:00:00.123456Z"
    result = run_cli(sqlite_url, "history", "7", "--as-of", first["received_at"], "--json")
    assert [r["state"] for r in json.loads(result.stdout)["reports"]] == ["send"]


def test_as_of_refuses_what_is_not_a_time_saying_which_forms_it_takes(store):
    url, _, _ = store
    result = run_cli(url, "history", "1", "--as-of", "yesterday")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'yesterday' is not a time" in result.stderr and "+03:00" in result.stderr


def test_messages_refuses_a_state_that_is_not_one(tmp_path):
    result = run_cli(f"sqlite:///{tmp_path / 'none.db'}", "messages", "--state", "bogus")
    assert result.returncode == 2
    assert "'bogus' is not a state; known states are send" in result.stderr
    assert not (tmp_path / "none.db").exists()


@pytest.fixture
def aged(sqlite_url):
    """Message 1 first received 73 hours ago, message 2 71 hours ago; neither final."""
    now = datetime.now(UTC)
    tracker = open_tracker(Settings(database_url=sqlite_url))
    tracker.record([Status(1, "send", "")], received_at=now - timedelta(hours=73))
    tracker.record([Status(2, "deliver", "")], received_at=now - timedelta(hours=71))
    Projector(tracker, open_views(tracker)).catch_up()
    tracker.close()
    return sqlite_url, now


def test_messages_overdue_lists_them_and_stats_count_them(aged, monkeypatch):
    url, _ = aged

    def listed(*args):
        result = run_cli(url, "messages", *args, "--json")
        assert result.returncode == 0, result.stderr
        return {m["id_sms"]: m["overdue"] for m in json.loads(result.stdout)["messages"]}

    assert listed("--overdue") == {1: True}
    assert listed("--not-overdue") == {2: False}
    assert listed() == {1: True, 2: False}
    table = run_cli(url, "messages", "--overdue").stdout
    assert "overdue" in table and "│ yes " in table
    stats = json.loads(run_cli(url, "stats", "--json").stdout)
    assert (stats["overdue"], stats["overdue_after_seconds"]) == (1, 72 * 3600)
    assert "1 overdue (not final 72h after their first receipt)" in run_cli(url, "stats").stdout
    monkeypatch.setenv("TRACKER_OVERDUE_AFTER", "70h")
    assert listed("--overdue") == {1: True, 2: True}
    assert "2 overdue (not final 70h after" in run_cli(url, "stats").stdout
    monkeypatch.setenv("TRACKER_OVERDUE_AFTER", "1000h")  # none yet: said, not an empty table
    assert run_cli(url, "messages", "--overdue").stdout.strip() == "no message matches"


def test_overdue_in_an_as_of_views_file_is_as_of_its_instant(aged, tmp_path, monkeypatch):
    url, now = aged
    out = tmp_path / "as-of.sqlite"
    until = (now - timedelta(hours=70)).isoformat()
    assert run_cli(url, "rebuild", "--until", until, "--out", str(out)).returncode == 0
    monkeypatch.setenv("TRACKER_OVERDUE_AFTER", "2h")  # then: 1 was 3 h old, 2 one hour
    then = run_cli(url, "messages", "--views", str(out), "--json")
    assert then.returncode == 0, then.stderr
    assert {m["id_sms"]: m["overdue"] for m in json.loads(then.stdout)["messages"]} == {
        1: True,
        2: False,
    }
