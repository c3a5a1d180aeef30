"""On PostgreSQL the tracker can run as a role that appends events but can never change them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.support import create_schema, drop_role, drop_schema, run_cli
from tracker.application import Status
from tracker.audit.follower import AuditFollower
from tracker.audit.tree import AuditTree
from tracker.audit.verify import verify_log
from tracker.bootstrap import open_request_store, open_tracker, open_views
from tracker.config import Settings
from tracker.request_log import Record
from tracker.views.projector import Projector, rebuild

pytestmark = pytest.mark.postgres

REFUSED = [
    "UPDATE {t} SET state = 'x'",
    "UPDATE {t} SET topic = topic WHERE notification_id = 1",
    "DELETE FROM {t}",
    "DELETE FROM {t} WHERE notification_id = 1",
    "TRUNCATE {t}",
    "DROP TABLE {t}",
    "ALTER TABLE {t} DISABLE TRIGGER tracker_append_only",
    "DROP TRIGGER tracker_append_only ON {t}",
    "ALTER TABLE {t} RENAME TO old_events",
]


@pytest.fixture
def owner_and_app(postgres_server):
    """A fresh schema owned by the admin role, and a login role of its own for the tracker."""
    owner_url = create_schema(postgres_server)
    role = f"tracker_app_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(postgres_server, autocommit=True)
    admin.execute(f'CREATE ROLE "{role}" LOGIN')
    app_url = owner_url.replace("postgres@", f"{role}@", 1)
    try:
        yield owner_url, app_url, role
    finally:
        drop_schema(owner_url)
        drop_role(admin, role)
        admin.close()


def test_the_app_role_appends_projects_and_rebuilds_but_cannot_change_the_history(owner_and_app):
    owner_url, app_url, role = owner_and_app
    migrated = run_cli(owner_url, "migrate", "--app-role", role)
    assert migrated.returncode == 0, migrated.stderr
    assert f"{role} may append events, never change them" in migrated.stdout

    tracker = open_tracker(Settings(database_url=app_url))  # as the app role, tables exist
    views = open_views(tracker)  # the app role creates and owns the views
    try:
        receipt = tracker.record(
            [Status(1, "send", "2024-05-01 10:00:00"), Status(1, "deliver", "2024-05-01 10:00:05")]
        )
        assert receipt.stored == {1}
        Projector(tracker, views).catch_up()
        assert rebuild(tracker, views).events == 2  # shadow tables created and swapped in
        assert views.message(1).state == "deliver"
        tree = AuditTree(views)  # the app role keeps the audit tree too
        assert AuditFollower(tracker, tree).catch_up().size == 2
        assert verify_log(tracker, tree).sound
        events_table = tracker.recorder.events_table_name
        requests = open_request_store(Settings(database_url=app_url))  # made by migrate
        try:  # the app role records requests and prunes their bodies
            now = datetime.now(UTC)
            kept = Record(received_at=now, answered_at=now, sender="", size=1, status=200,
                          latency_ms=1.0, body=b"x")  # fmt: skip
            request_id = requests.insert([kept])[0]
            assert requests.prune(now + timedelta(seconds=1), 10**9) == 1
            assert requests.get(request_id).body is None
        finally:
            requests.close()
    finally:
        tracker.close()

    schema = owner_url.rsplit("schema=", 1)[1]
    table = f'"{schema}"."{events_table}"'
    with psycopg.connect(app_url.split("?")[0], autocommit=True) as app:
        for statement in REFUSED:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement.format(t=table))
        rows = app.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    assert rows == 2


def test_the_owner_too_is_stopped_by_the_triggers_until_it_drops_them(owner_and_app):
    owner_url, _, role = owner_and_app
    assert run_cli(owner_url, "migrate", "--app-role", role).returncode == 0
    tracker = open_tracker(Settings(database_url=owner_url))
    tracker.record([Status(2, "send", "")])
    events_table = tracker.recorder.events_table_name
    tracker.close()
    schema = owner_url.rsplit("schema=", 1)[1]
    with psycopg.connect(owner_url.split("?")[0], autocommit=True) as owner:
        for statement in ("UPDATE {t} SET state = 'x'", "DELETE FROM {t}", "TRUNCATE {t}"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                owner.execute(statement.format(t=f'"{schema}"."{events_table}"'))


def test_an_unknown_role_is_a_clear_error(postgres_url):
    result = run_cli(postgres_url, "migrate", "--app-role", "no_such_role_here")
    assert result.returncode == 2
    assert 'role "no_such_role_here" does not exist' in result.stderr


def test_sqlite_has_no_roles_and_says_so(sqlite_url):
    result = run_cli(sqlite_url, "migrate", "--app-role", "anyone")
    assert result.returncode == 2
    assert "needs PostgreSQL" in result.stderr
