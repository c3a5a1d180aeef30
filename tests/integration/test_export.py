"""Exports round-trip: reading the file back gives the rows that were exported."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from tests.support import run_cli
from tracker.application import Status
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.message import Message
from tracker.domain.status import Report
from tracker.read import export
from tracker.views.projector import Projector

MESSAGES = 100_000
T0 = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    """100,000 messages (one report each, states varied), projected."""
    url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'tracker.db'}"
    tracker = open_tracker(Settings(database_url=url))
    states = ["send", "deliver", "read", "expired", "odd"]
    for start in range(0, MESSAGES, 5000):
        messages = [
            Message.first_report(n, Report(states[n % 5], ""), T0 + timedelta(seconds=n))
            for n in range(start, start + 5000)
        ]
        tracker.events.put([e for m in messages for e in m.collect_events()])
    views = open_views(tracker)
    Projector(tracker, views, page_size=5000).catch_up()
    yield url, tracker, views
    tracker.close()


def normalise(row: dict) -> dict:
    """CSV has no types: compare every value as text, with None as the empty string."""
    return {k: "" if v is None else str(v) for k, v in row.items()}


def test_messages_round_trip_through_csv_jsonl_and_parquet(big_store, tmp_path):
    url, _, views = big_store
    expected = list(export.message_rows(views))
    assert len(expected) == MESSAGES
    for fmt in export.FORMATS:
        out = tmp_path / f"messages.{fmt}"
        result = run_cli(url, "export", "messages", "--format", fmt, "--out", str(out))
        assert result.returncode == 0, result.stderr
        assert f"wrote {MESSAGES:,} messages" in result.stdout
        assert re.search(
            r"exporting messages .*100%.* 100,000 messages .*messages/s", result.stderr
        )
        if fmt == "csv":
            with out.open(newline="") as f:
                back = [normalise(r) for r in csv.DictReader(f)]
            assert back == [normalise(r) for r in expected]
        elif fmt == "jsonl":
            back = [json.loads(line) for line in out.read_text().splitlines()]
            assert back == expected
        else:
            assert pq.read_table(out).to_pylist() == expected


def test_reports_export_every_stored_report(tracker, tmp_path, database_url):
    tracker.record([Status(1, "send", ""), Status(1, "read", "2026-05-01 12:00:00")])
    tracker.record([Status(2, "deliver", "junk")])
    out = tmp_path / "reports.jsonl"
    result = run_cli(database_url, "export", "reports", "--format", "jsonl", "--out", str(out))
    assert result.returncode == 0, result.stderr
    back = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id_sms"], r["state"], r["time"], r["outcome"]) for r in back] == [
        (1, "send", "", "applied"), (1, "read", "2026-05-01 12:00:00", "applied"),
        (2, "deliver", "junk", "applied"),
    ]  # fmt: skip
    assert back[1]["instant"] == "2026-05-01T09:00:00.000000+00:00"


def test_export_refuses_what_it_cannot_do(sqlite_url, tmp_path):
    wrong = run_cli(sqlite_url, "export", "everything", "--out", str(tmp_path / "x"))
    assert (wrong.returncode, "export messages or reports" in wrong.stderr) == (2, True)
    fmt = run_cli(sqlite_url, "export", "messages", "--format", "xml", "--out", str(tmp_path / "x"))
    assert (fmt.returncode, "--format must be one of" in fmt.stderr) == (2, True)
