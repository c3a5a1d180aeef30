"""The read side at a terminal: tables for people, and with --json exactly the API's JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

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
    assert "rejected: the key state is given 2 times" in " ".join(table.split())
