"""`tracker migrate` on a store an earlier tracker wrote (tests/fixtures/legacy_4066620): the
converted store answers as that tracker did (expected.json), on SQLite and PostgreSQL; a run
stopped anywhere goes on where it stopped; such a store is refused at start-up until converted."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest

from tests.fixtures.legacy_4066620 import fixture
from tests.support import server_url
from tracker import migrate as migration
from tracker.bootstrap import (
    LegacyStore,
    open_reader,
    open_reader_views,
    open_tracker,
    open_views,
)
from tracker.codec import decode
from tracker.config import Settings
from tracker.domain.events import Quarantined, QuarantinedAgain, Reported, ReportedAgain
from tracker.domain.ids import message_id
from tracker.domain.quarantine import quarantine_id
from tracker.read import queries
from tracker.stores import legacy
from tracker.stores.migration import PROGRESS_TABLE
from tracker.stores.sqlite.migration import SQLiteLegacyTables

EXPECTED = fixture.expected()
EVENTS = sum(fixture.manifest()["sqlite"]["events_by_topic"].values())  # 1,044


def run(url: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    return subprocess.run(
        [sys.executable, "-m", "tracker", *args],
        env={**clean, "TRACKER_DATABASE_URL": url, "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def checksums(stdout: str) -> dict[str, str]:
    """The checksums the views' rebuild printed, of the views expected.json has: the change
    view came later (2026-12-07), and is held to the histories instead (``expected_changes``),
    as the breakdowns (2026-12-07) are to counts of their own (test_breakdown.py)."""
    found = {}
    for line in stdout.splitlines():
        name, _, rest = line.strip().partition(" ")
        if rest.strip().startswith("sha256 "):
            found[name] = rest.strip().removeprefix("sha256 ")
    assert set(found) == {*EXPECTED["checksums"], "changes", "breakdown", "breakdown_times"}
    return {name: found[name] for name in EXPECTED["checksums"]}


def expected_changes() -> dict[int, list[tuple]]:
    """Each message's changes as its history in expected.json says them: a report after which
    the state (``state_after``) differs from before, with its time and receipt."""
    changes: dict[int, list[tuple]] = {}
    for number, history in EXPECTED["histories"].items():
        before, found = None, []
        for report in history["reports"]:
            if report["state_after"] != before:
                found.append((before, report["state_after"], report["time"],
                              report["received_at"]))  # fmt: skip
                before = report["state_after"]
        if found:
            changes[int(number)] = found
    return changes


def change_view(url: str) -> dict[int, list[tuple]]:
    """Each message's changes as the change view holds them, in position order."""
    settings = Settings.from_env({"TRACKER_DATABASE_URL": url})
    tracker = open_reader(settings)
    try:
        found: dict[int, list[tuple]] = {}
        for c in open_reader_views(tracker, settings).changes_after(0, 100_000):
            received = c.received_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
            found.setdefault(c.id_sms, []).append((c.previous, c.state, c.time, received))
        return found
    finally:
        tracker.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def legacy_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh copy of the store 4066620 wrote: the SQLite file, or the PostgreSQL copy in a
    schema of its own (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{fixture.copy_store(tmp_path)}"
        return
    server = server_url(request.getfixturevalue("postgres_server"))
    schema = f"i19_migrate_{uuid.uuid4().hex[:8]}"
    try:
        yield fixture.load_postgres(server, schema)
    finally:
        fixture.drop_postgres(server, schema)


# A message's fields added after expected.json was written: ``overdue`` depends on the clock
# it is read at, ``channels`` and the registration (2026-12-07) on events that store could not
# hold (tested elsewhere).
ADDED_SINCE = ("overdue", "channels", "registration", "registration_conflicts")
# A report's fields added since: every report of that store came by the webhook and said no
# more than its state (these are their values), which expected.json does not spell out.
REPORT_ADDED_SINCE = {
    "source": "webhook", "channels": None, "num_parts": None, "price": None,
    "requests": None,  # the request log's links: none here (a history read without one)
}  # fmt: skip


# A history's fields added since (2026-12-07): no registration, as that store could hold none.
HISTORY_ADDED_SINCE = {"registration": None, "registrations": [], "registrations_more": 0}


def _as_expected(history: dict[str, Any]) -> dict[str, Any]:
    for report in history["reports"]:
        for field, value in REPORT_ADDED_SINCE.items():
            assert report.pop(field) == value
    for field, value in HISTORY_ADDED_SINCE.items():
        assert history.pop(field) == value
    return history


def answers(url: str) -> dict[str, Any]:
    """What the tracker answers for the converted store, in expected.json's shape: the
    messages view, every whole history, the quarantine with each item's receipts (from its
    events: the receipt time and reason of each)."""
    settings = Settings.from_env({"TRACKER_DATABASE_URL": url})
    tracker = open_reader(settings)
    try:
        views = open_reader_views(tracker, settings)
        messages = queries.list_messages(views, limit=1000).messages
        histories = {
            str(m.id_sms): _as_expected(
                msgspec.to_builtins(queries.history(tracker, m.id_sms, limit=None, cut=None))
            )
            for m in messages
        }
        items = []
        for item in queries.quarantine(views, limit=1000, cut=None).items:
            events = [e.event for e in tracker.events.get(uuid.UUID(item.id))]
            each = [[e.received_at.isoformat(), e.reason] for e in events]
            items.append({**msgspec.to_builtins(item), "each_receipt": each})
        return {
            "messages": [
                {k: v for k, v in m.items() if k not in ADDED_SINCE}
                for m in msgspec.to_builtins(messages)
            ],
            "histories": histories,
            "quarantine": items,
        }
    finally:
        tracker.close()


def stored_rows(url: str) -> list[tuple[int, uuid.UUID, int, str, bytes]]:
    """The converted events table, in notification order."""
    tracker = open_reader(Settings.from_env({"TRACKER_DATABASE_URL": url}))
    try:
        found = tracker.recorder.select_notifications(1, 10 * EVENTS)
        return [(n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state))
                for n in found]  # fmt: skip
    finally:
        tracker.close()


def old_rows(url: str = f"sqlite:///{fixture.STORE}") -> list[legacy.Decoded]:
    """The old events a store holds, as the legacy reader decodes them (by default the
    fixture's own file)."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return list(legacy.decoded(legacy.sqlite_pages(connection)))
    server, schema = url.split("?schema=")
    with psycopg.connect(server) as connection:
        return list(legacy.decoded(legacy.postgres_pages(connection, schema)))


def test_a_converted_store_answers_as_the_tracker_that_wrote_it(legacy_url):
    """Every history, the messages view, the quarantine with each receipt, and the checksums
    of the rebuilt views equal expected.json, which the tracker answered for this store before
    the event model changed.

    Known and intended: the outcomes stored for messages 9001 and 9002 (reports in the hour
    Moscow skipped in 2011, ordered by an older rule) are carried over as stored, never
    decided again; expected.json was answered from the same stored outcomes, so they match.
    """
    done = run(legacy_url, "migrate")
    assert done.returncode == 0, done.stderr
    assert f"converted {EVENTS:,} events" in done.stdout
    assert "the old events are dropped" in done.stdout
    assert checksums(done.stdout) == EXPECTED["checksums"]
    assert change_view(legacy_url) == expected_changes()
    found = answers(legacy_url)
    assert found["messages"] == EXPECTED["messages"]
    assert found["histories"].keys() == EXPECTED["histories"].keys()
    for number, history in EXPECTED["histories"].items():
        assert found["histories"][number] == history, number
    assert found["quarantine"] == EXPECTED["quarantine"]
    for number in ("9001", "9002"):  # the stored outcomes, not today's rules' (no "rejected")
        assert "rejected" not in {r["outcome"] for r in found["histories"][number]["reports"]}


def test_each_event_keeps_its_place_version_and_outcome(legacy_url):
    assert run(legacy_url, "migrate").returncode == 0
    rows = stored_rows(legacy_url)
    old = old_rows()
    assert [r[0] for r in rows] == [e.position for e in old]  # the same notification ids
    for (_, key, version, topic, state), was in zip(rows, old, strict=True):
        event = decode(topic, state)
        assert version == was.originator_version
        if isinstance(was, legacy.ReportReceived):
            assert key == message_id(was.id_sms)  # this version's id, whatever the old one
            assert type(event) is Reported and event.outcome == was.outcome
            assert (event.instant, event.received_at) == (was.instant, was.received_at)
        else:
            assert key == was.originator_id
            assert type(event) is (
                Quarantined if isinstance(was, legacy.ItemQuarantined) else QuarantinedAgain
            )


def test_an_interrupted_migration_goes_on_where_it_stopped(legacy_url):
    """Stopped after three pages of 100, then after none, then run to the end: every event
    once, and the same answers; meanwhile the store is still refused to other commands."""
    first = run(legacy_url, "migrate", "--page-size", "100", "--stop-after-pages", "3")
    assert first.returncode != 0
    assert "converted 300 events" in first.stdout and "run `tracker migrate` again" in first.stderr
    assert "tracker migrate" in run(legacy_url, "history", "1").stderr
    assert run(legacy_url, "migrate", "--stop-after-pages", "0").returncode != 0
    rest = run(legacy_url, "migrate", "--page-size", "100")
    assert rest.returncode == 0, rest.stderr
    assert f"converted {EVENTS - 300:,} events" in rest.stdout
    assert checksums(rest.stdout) == EXPECTED["checksums"]
    rows = stored_rows(legacy_url)
    assert len(rows) == len({r[0] for r in rows}) == len({r[1:3] for r in rows}) == EVENTS
    assert answers(legacy_url)["histories"] == EXPECTED["histories"]


def test_the_earlier_views_go_first_and_a_rebuild_cut_short_is_finished_by_the_next_run(
    legacy_url,
):
    """The earlier version's views (its forms, its positions) never stand as live once a
    conversion began; views left unbuilt by an interrupted rebuild are built by the next run."""
    settings = Settings.from_env({"TRACKER_DATABASE_URL": legacy_url})
    tracker = open_tracker(settings, legacy=True)
    try:  # views as the earlier version left them: at the head of its log
        old = open_views(tracker)
        old.write([], {}, [], EVENTS)
        assert old.position() == EVENTS
    finally:
        tracker.close()
    assert run(legacy_url, "migrate", "--stop-after-pages", "1").returncode != 0
    tracker = open_tracker(settings, legacy=True)
    try:
        assert open_views(tracker).position() == 0  # gone: the next server would start afresh
    finally:
        tracker.close()
    done = run(legacy_url, "migrate")
    assert checksums(done.stdout) == EXPECTED["checksums"]
    tracker = open_tracker(settings)
    try:  # as a rebuild interrupted after the conversion leaves them
        open_views(tracker).drop_views("")
    finally:
        tracker.close()
    again = run(legacy_url, "migrate")
    assert again.returncode == 0, again.stderr
    assert checksums(again.stdout) == EXPECTED["checksums"]
    assert "310 messages" in run(legacy_url, "stats").stdout


def test_of_two_migrations_at_once_the_later_says_the_other_finished(tmp_path):
    url = f"sqlite:///{fixture.copy_store(tmp_path)}"
    settings = Settings.from_env({"TRACKER_DATABASE_URL": url})
    one, other = open_tracker(settings, legacy=True), open_tracker(settings, legacy=True)
    try:
        first, second = migration.Migration(one), migration.Migration(other)
        assert first.run().done
        with pytest.raises(migration.MigrationError, match="another `tracker migrate` finished"):
            second.run()
    finally:
        one.close()
        other.close()
    assert len(stored_rows(url)) == EVENTS


def test_a_page_that_fails_leaves_nothing_of_itself(tmp_path, monkeypatch):
    """A failure after a page's rows are inserted, before its position is recorded (a crash
    inside the transaction): the page is rolled back with it, and the next run writes it once."""
    url = f"sqlite:///{fixture.copy_store(tmp_path)}"
    settings = Settings.from_env({"TRACKER_DATABASE_URL": url})
    tracker = open_tracker(settings, legacy=True)
    try:
        under_way = migration.Migration(tracker)
        assert under_way.run(page_size=200, stop_after_pages=2).position == 400
        insert = SQLiteLegacyTables.insert

        def insert_then_fail(self: Any, cursor: Any, rows: list) -> None:
            insert(self, cursor, rows)
            raise OSError("the disk went away")

        monkeypatch.setattr(SQLiteLegacyTables, "insert", insert_then_fail)
        with pytest.raises(OSError):
            under_way.run(page_size=200)
        monkeypatch.undo()
        again = migration.Migration(tracker)
        assert (again.position, again.head) == (400, EVENTS)
        assert again.run(page_size=200).done
    finally:
        tracker.close()
    rows = stored_rows(url)
    assert [r[0] for r in rows] == list(range(1, EVENTS + 1))
    with sqlite3.connect(tmp_path / "store.db") as connection:
        tables = {n for (n,) in connection.execute("SELECT name FROM sqlite_master")}
    assert {"stored_events", PROGRESS_TABLE} & tables == set()


@pytest.mark.parametrize(
    "command",
    [
        ("history", "1"),
        ("messages",),
        ("stats",),
        ("quarantine",),
        ("rebuild",),
        ("project",),
        ("serve", "--port", "0"),
        ("write", "--socket", "unused.sock"),
    ],
    ids=lambda c: c[0],
)
def test_an_unconverted_store_is_refused_at_start_up(legacy_url, command, tmp_path):
    result = run(legacy_url, *command, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("error: the ")
    assert "written by an earlier version of the tracker" in lines[0]
    assert lines[0].endswith("run `tracker migrate` to convert it first")
    if legacy_url.startswith("sqlite"):  # nothing made beside it (reading WAL makes -shm)
        beside = {p.name for p in Path(legacy_url[10:]).parent.iterdir()}
        assert beside - {"store.db-wal", "store.db-shm"} == {"store.db"}
    else:
        settings = Settings.from_env({"TRACKER_DATABASE_URL": legacy_url})
        with pytest.raises(LegacyStore):
            open_tracker(settings)
        server, schema = legacy_url.split("?schema=")
        with psycopg.connect(server) as connection:
            tables = connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                [schema],
            ).fetchall()
        assert tables == [("tracker_events",)]
    assert len(old_rows(legacy_url)) == EVENTS


def test_a_store_already_converted_or_empty_has_nothing_to_convert(legacy_url, tmp_path):
    assert run(legacy_url, "migrate").returncode == 0
    before = stored_rows(legacy_url)
    again = run(legacy_url, "migrate")
    assert again.returncode == 0, again.stderr
    assert "no events of an earlier tracker to convert: the store is already in this " \
        f"version's format ({EVENTS:,} events)" in again.stderr  # fmt: skip
    assert "converted " not in again.stdout and stored_rows(legacy_url) == before
    empty = run(f"sqlite:///{tmp_path}/new/tracker.db", "migrate")
    assert empty.returncode == 0
    assert "the store holds no events" in empty.stderr
    assert "tables ready" in empty.stdout


def test_a_store_written_by_both_versions_is_not_converted(tmp_path):
    url = f"sqlite:///{fixture.copy_store(tmp_path)}"
    with sqlite3.connect(tmp_path / "store.db") as connection:
        connection.execute(
            "CREATE TABLE events (notification_id INTEGER PRIMARY KEY, originator_id BLOB, "
            "originator_version INTEGER, topic TEXT, state BLOB)"
        )
        connection.execute("INSERT INTO events VALUES (1, x'00', 1, 'r1', x'90')")
    result = run(url, "migrate")
    assert result.returncode == 2
    assert "holds events in both" in result.stderr
    assert len(old_rows(url)) == EVENTS


def test_the_events_written_after_4066620_convert_too():
    """Exact repeats, ids sent as strings, reasons and raw encodings (the legacy format as the
    tracker wrote it after 4066620) become this version's events field for field."""
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    old_id = uuid.uuid4()  # message ids were uuid5 or ordered: the new one is derived again
    common = {"position": 7, "originator_id": old_id, "timestamp": at}
    report = legacy.ReportReceived(
        **common, originator_version=1, first=True, id_sms=7, state="read\ufffd", time="",
        instant=None, received_at=at, outcome="rejected", raw="eyJpZCI6N30=", id_sent="07",
        reason="state is not UTF-8", raw_encoding="base64",
    )  # fmt: skip
    again = legacy.ReportReceivedAgain(
        **common, originator_version=2, id_sms=7, state="send", time="2011-01-01 12:00:00",
        reason=None, received_at=at, times=3,
    )  # fmt: skip
    converted = migration.convert(report)
    assert (converted.originator_id, converted.originator_version) == (message_id(7), 1)
    assert converted.event == Reported(
        "read\ufffd", "", None, at, "rejected", "eyJpZCI6N30=", "07", "state is not UTF-8",
        "base64",
    )  # fmt: skip
    assert migration.convert(again).event == ReportedAgain(
        "send", "2011-01-01 12:00:00", at, 3, None
    )
    wrong = legacy.ItemQuarantined(
        **common, originator_version=1, kind="item", raw="[1]", encoding="utf-8", reason="r",
        received_at=at,
    )  # fmt: skip
    with pytest.raises(migration.MigrationError, match="event 7: quarantined input stored"):
        migration.convert(wrong)
    right = msgspec.structs.replace(wrong, originator_id=quarantine_id("item", "[1]"))
    assert migration.convert(right).event == Quarantined("item", "[1]", "r", at, "utf-8")


def test_messages_stored_under_other_ids_are_filed_under_this_versions(tmp_path):
    """Stores written before ordered ids filed a message under a uuid5: whatever the old id,
    the converted message is found by its id_sms, with its whole history."""
    store = fixture.copy_store(tmp_path)
    with sqlite3.connect(store) as connection:
        query = "SELECT DISTINCT originator_id FROM stored_events WHERE topic LIKE '%Message.%'"
        keys = [key for (key,) in connection.execute(query)]
        for key in keys:
            connection.execute(
                "UPDATE stored_events SET originator_id = ? WHERE originator_id = ?",
                (uuid.uuid5(uuid.NAMESPACE_URL, key).hex, key),
            )
    assert len(keys) == len(EXPECTED["histories"])
    url = f"sqlite:///{store}"
    done = run(url, "migrate")
    assert done.returncode == 0, done.stderr
    assert checksums(done.stdout) == EXPECTED["checksums"]
    assert answers(url)["histories"] == EXPECTED["histories"]
