"""The stores themselves: SQLite durability, URL parsing, and stores that will not write."""

from __future__ import annotations

import sqlite3
import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from tests.support import drop_role
from tracker.application import Status, StoreUnavailable
from tracker.bootstrap import open_tracker, store_for
from tracker.config import Settings, SettingsError
from tracker.domain.ids import message_id
from tracker.domain.message import Message
from tracker.domain.status import Report


def test_sqlite_commits_through_a_wal_with_full_fsync(tmp_path):
    path = tmp_path / "nested" / "dir" / "tracker.db"
    tracker = open_tracker(Settings(database_url=f"sqlite:///{path}"))
    try:
        tracker.record([Status(1, "send", "")])
        with tracker.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA journal_mode")
            journal = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            synchronous = cursor.fetchone()[0]
    finally:
        tracker.close()
    assert path.exists()  # the directory was created as needed
    assert (journal, synchronous) == ("wal", 2)  # 2 is FULL


def insert(tracker, numbers) -> list[int]:
    """The first events of these messages, inserted as the writer inserts a group's events."""
    events = [e for n in numbers for e in tracker_message(n).collect_events()]
    return tracker.recorder.insert_events([tracker.mapper.to_stored_event(e) for e in events])


def test_the_notification_ids_a_write_returns_are_those_the_events_are_read_back_with(tracker):
    """SQLite's recorder derives them from the last rowid of one multi-row insert."""
    first = insert(tracker, range(5))
    second = insert(tracker, range(5, 8))
    notifications = tracker.recorder.select_notifications(1, 100)
    assert [n.id for n in notifications] == first + second
    assert second == list(range(first[-1] + 1, first[-1] + 4))  # consecutive, in event order
    assert [n.originator_id for n in notifications] == [
        message_id(n) for n in range(8)
    ]  # fmt: skip


def test_a_write_of_hundreds_of_events_keeps_their_order_and_ids(tracker):
    """SQLite inserts them a few hundred rows per statement; PostgreSQL copies them in."""
    tracker.record([Status(n, "send", "") for n in range(3)])
    ids = insert(tracker, range(1000, 1450))
    notifications = tracker.recorder.select_notifications(1, 1000)
    assert ids == [n.id for n in notifications][3:] == list(range(ids[0], ids[0] + 450))
    assert [n.originator_id for n in notifications][3:] == [
        message_id(n) for n in range(1000, 1450)
    ]  # fmt: skip


def tracker_message(id_sms: int) -> Message:
    """A new message that received its first report (its event not yet collected)."""
    message = Message(id_sms)
    message.receive(Report("send", ""), datetime.now(UTC))
    return message


def test_database_urls_name_the_store():
    sqlite = store_for(Settings(database_url="sqlite:///var/x.db", create_tables=False))
    assert (sqlite.kind, sqlite.env["SQLITE_DBNAME"]) == ("sqlite", "var/x.db")
    pg = store_for(Settings(database_url="postgresql://app:s3cret@db.example:6543/events?schema=t"))
    assert pg.kind == "postgresql"
    assert {
        k: pg.env[k]
        for k in (
            "POSTGRES_HOST",
            "POSTGRES_PORT",
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
            "POSTGRES_DBNAME",
            "POSTGRES_SCHEMA",
        )
    } == {
        "POSTGRES_HOST": "db.example",
        "POSTGRES_PORT": "6543",
        "POSTGRES_USER": "app",
        "POSTGRES_PASSWORD": "s3cret",
        "POSTGRES_DBNAME": "events",
        "POSTGRES_SCHEMA": "t",
    }
    assert "s3cret" not in pg.description


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite:///", "postgresql://host/", "tracker.db"])
def test_an_unusable_database_url_is_refused_with_the_setting_named(url):
    with pytest.raises(SettingsError, match="TRACKER_DATABASE_URL"):
        store_for(Settings(database_url=url))


def test_a_locked_sqlite_store_answers_unavailable_then_recovers(tmp_path):
    path = tmp_path / "tracker.db"
    tracker = open_tracker(Settings(database_url=f"sqlite:///{path}", lock_timeout=1))
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="locked"):
            tracker.record([Status(1, "send", "")])
        assert time.monotonic() - started < 10  # bounded by the lock timeout, not forever
        blocker.execute("ROLLBACK")
        assert tracker.record([Status(1, "send", "")]).stored == {1}
    finally:
        blocker.close()
        tracker.close()


@pytest.mark.postgres
def test_a_locked_postgres_store_answers_unavailable_then_recovers(postgres_url):
    tracker = open_tracker(Settings(database_url=postgres_url, lock_timeout=1))
    schema = postgres_url.rsplit("schema=", 1)[1]
    try:
        with psycopg.connect(postgres_url.split("?")[0]) as blocker:
            table = tracker.recorder.events_table_name
            blocker.execute(f'LOCK TABLE "{schema}"."{table}" IN ACCESS EXCLUSIVE MODE')
            with pytest.raises(StoreUnavailable, match="lock"):
                tracker.record([Status(1, "send", "")])
        assert tracker.record([Status(1, "send", "")]).stored == {1}
    finally:
        tracker.close()


@pytest.fixture
def own_role_url(postgres_server):
    """A URL for a login role of its own (owning its schema), and an admin connection."""
    name = f"tracker_outage_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(postgres_server, autocommit=True)
    admin.execute(f'CREATE ROLE "{name}" LOGIN')
    admin.execute(f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"')
    url = postgres_server.replace("postgres@", f"{name}@", 1)
    try:
        yield f"{url}?schema={name}", name, admin
    finally:
        admin.execute(f'ALTER ROLE "{name}" LOGIN')
        admin.execute(f'DROP SCHEMA "{name}" CASCADE')
        drop_role(admin, name)
        admin.close()


def record_when_back(tracker, statuses, within=60.0):
    """Retry like the platform does until the store takes the batch again."""
    deadline = time.monotonic() + within
    while True:
        try:
            return tracker.record(statuses).stored
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.postgres
def test_postgres_going_away_mid_run_answers_unavailable_then_recovers(own_role_url):
    url, role, admin = own_role_url
    tracker = open_tracker(Settings(database_url=url, lock_timeout=1))
    try:
        tracker.record([Status(1, "send", "")])
        admin.execute(f'ALTER ROLE "{role}" NOLOGIN')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role]
        )
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            tracker.record([Status(1, "deliver", "2011-01-01 12:00:00")])
        assert time.monotonic() - started < 15
        admin.execute(f'ALTER ROLE "{role}" LOGIN')
        assert record_when_back(tracker, [Status(1, "deliver", "2011-01-01 12:00:00")]) == {1}
        assert [e.event.state for e in tracker.history(1)] == ["send", "deliver"]
    finally:
        tracker.close()


@pytest.mark.postgres
def test_an_unreachable_postgres_at_start_up_is_a_clear_error(postgres_server):
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none", create_tables=False)
    with pytest.raises(StoreUnavailable, match=r"cannot open the PostgreSQL nobody@127\.0\.0\.1:1"):
        open_tracker(settings)
