"""The change view on a real store: what the live projector writes, a rebuild writes the same,
views made before it existed say from where it is complete, and a forged row is named."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec
import pytest

from tests.support import run_cli
from tracker.application import Status
from tracker.audit.views_check import check_views
from tracker.bootstrap import open_output_views, open_tracker, open_views
from tracker.config import Settings
from tracker.domain.ids import id_sms_of
from tracker.read import queries
from tracker.views.changes import COMPLETE_FROM_KEY
from tracker.views.projector import Projector, rebuild

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
STATES = ["send", "partly_deliver", "deliver", "read", "not_deliver", "expired", "odd"]
TIMES = ["", "2026-03-01 12:00:00", "2026-03-01 12:00:30", "2026-03-01 12:01:00", "x"]


@pytest.fixture
def views(tracker):
    return open_views(tracker)


def traffic(tracker, rounds: int = 6, seed: int = 3, live: Projector | None = None) -> None:
    rnd = random.Random(seed)
    for n in range(rounds):
        batch = [Status(rnd.randint(1, 80), rnd.choice(STATES), rnd.choice(TIMES),
                        channels={"sms": "x"} if rnd.random() < 0.1 else None)
                 for _ in range(60)]  # fmt: skip
        tracker.record(batch, received_at=T0 + timedelta(minutes=n))
        if live and n % 2:
            live.step()


def every_change(views) -> list:
    return views.changes_after(0, 1_000_000)


def test_each_change_is_a_stored_report_that_moved_its_messages_state(tracker, views):
    """Positions are the notification ids of the causing events; each message's changes are
    the transitions of the fold of its history, read from the event store itself."""
    traffic(tracker, live=Projector(tracker, views, page_size=50))
    Projector(tracker, views).catch_up()
    changes = every_change(views)
    assert changes and [c.position for c in changes] == sorted({c.position for c in changes})
    stored = {n: (key, topic) for n, key, topic, _ in tracker.store.select_rows(0, 10**9)}
    for change in changes:
        key, topic = stored[change.position]
        key = key if isinstance(key, UUID) else UUID(bytes=key)  # PostgreSQL's, or 16 bytes
        assert (topic, id_sms_of(key)) == ("r1", change.id_sms)
    for id_sms in {c.id_sms for c in changes}:
        history = queries.history(tracker, id_sms, limit=1000).reports
        expected, before = [], None
        for record in history:  # the state after each report, as a message's history says it
            if record.state_after != before:
                expected.append((before, record.state_after, record.time, record.received_at))
                before = record.state_after
        mine = [(c.previous, c.state, c.time, c.received_at) for c in changes if c.id_sms == id_sms]
        assert mine == expected, id_sms
    assert views.changes_head() == changes[-1].position
    assert views.changes_complete_from() == 0


def test_changes_after_pages_in_position_order_and_filters_by_message(tracker, views):
    assert (views.changes_after(0, 10), views.changes_head()) == ([], 0)
    traffic(tracker)
    Projector(tracker, views).catch_up()
    whole = every_change(views)
    paged, after = [], 0
    while page := views.changes_after(after, 7):
        assert len(page) <= 7
        paged += page
        after = page[-1].position
    assert paged == whole
    one = whole[3].id_sms
    assert views.changes_after(0, 1000, id_sms=one) == [c for c in whole if c.id_sms == one]
    assert views.changes_after(whole[-1].position, 10) == []


def test_a_rebuild_writes_the_changes_the_live_projector_wrote(tracker, views):
    traffic(tracker, rounds=8, live=Projector(tracker, views, page_size=33, cache_rows=10))
    Projector(tracker, views).catch_up()
    live = every_change(views)
    here = rebuild(tracker, views, page_size=40, cache_rows=10)  # evicts and reloads rows
    assert every_change(views) == live
    split = rebuild(tracker, views, workers=3, page_size=40, cache_rows=10)
    assert every_change(views) == live
    assert split.checksums["changes"] == here.checksums["changes"] == views.checksums()["changes"]


def test_views_made_before_the_change_view_say_from_where_it_is_complete(tracker, views, tmp_path):
    """Opened again, earlier views get the table empty, complete only past the position they
    had reached; a rebuild fills it, and says it is whole."""
    traffic(tracker, rounds=3)
    Projector(tracker, views).catch_up()
    whole = every_change(views)
    reached = views.position()
    with views.datastore.transaction(commit=True) as cursor:  # the views as 63d0810 made them
        cursor.execute(f"DROP TABLE {views.tables.table('changes')}")
    again = open_views(tracker)
    assert (again.changes_complete_from(), every_change(again)) == (reached, [])
    assert open_views(tracker).changes_complete_from() == reached  # said once, kept
    traffic(tracker, rounds=2, seed=9)
    Projector(tracker, again).catch_up()
    later = every_change(again)
    assert later and all(c.position > reached for c in later)
    check = check_views(tracker, again, open_output_views(tmp_path / "scratch.views.db"))
    gap = sum(1 for c in whole if c.position <= reached)
    assert check.problems == [
        f"the change view lacks the {gap} changes up to position {reached}: it was made after "
        "the other views; `tracker rebuild` fills it"
    ]
    rebuild(tracker, again)
    assert again.changes_complete_from() == 0
    assert every_change(again)[: len(whole)] == whole
    assert every_change(again)[len(whole) :] == later
    assert again.max_tracking_id(COMPLETE_FROM_KEY) is None


def test_verifying_the_views_names_a_forged_or_missing_change_row(tracker, views, tmp_path):
    traffic(tracker, rounds=3)
    Projector(tracker, views).catch_up()
    changes = every_change(views)
    forged, gone = changes[2].position, changes[5].position
    table = views.tables.table("changes")
    with views.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"UPDATE {table} SET state = 'read' WHERE position = {forged}")
        cursor.execute(f"DELETE FROM {table} WHERE position = {gone}")
    check = check_views(tracker, views, open_output_views(tmp_path / "scratch.views.db"))
    assert not check.sound and check.messages == []
    assert check.problems == [f"2 rows of the change view differ, at positions {forged}, {gone}"]


def test_tracker_changes_prints_the_feed_as_json_lines_and_follows_it(sqlite_url):
    tracker = open_tracker(Settings(database_url=sqlite_url))
    views = open_views(tracker)
    traffic(tracker, rounds=2)
    Projector(tracker, views).catch_up()
    whole = [msgspec.to_builtins(c) for c in every_change(views)]
    printed = run_cli(sqlite_url, "changes", "--limit", "1000")
    assert printed.returncode == 0, printed.stderr
    assert [json.loads(line) for line in printed.stdout.splitlines()] == whole
    page = run_cli(sqlite_url, "changes", "--after", str(whole[2]["position"]), "--limit", "2")
    assert [json.loads(line) for line in page.stdout.splitlines()] == whole[3:5]
    one = run_cli(sqlite_url, "changes", "--id-sms", str(whole[0]["id_sms"]))
    assert [json.loads(line) for line in one.stdout.splitlines()] == [
        c for c in whole if c["id_sms"] == whole[0]["id_sms"]
    ]
    assert "--id-sms must be ASCII digits" in run_cli(sqlite_url, "changes", "--id-sms", "x").stderr
    env = {**os.environ, "TRACKER_DATABASE_URL": sqlite_url}
    last = str(whole[-1]["position"])
    follower = subprocess.Popen(
        [sys.executable, "-m", "tracker", "changes", "--follow", "--after", last],
        env=env, stdout=subprocess.PIPE, text=True,
        # Interruptible as at a terminal, even when this run was started in the background
        # (a shell's background job ignores SIGINT, and its children inherit that).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        tracker.record([Status(9_999, "send", "")], received_at=T0)
        Projector(tracker, views).catch_up()
        line = json.loads(follower.stdout.readline())  # type: ignore[union-attr]
        assert (line["id_sms"], line["previous"], line["state"]) == (9_999, None, "send")
    finally:
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=10) == 0
        tracker.close()


def test_tracker_changes_says_when_the_feed_lacks_what_is_asked(sqlite_url):
    tracker = open_tracker(Settings(database_url=sqlite_url))
    views = open_views(tracker)
    traffic(tracker, rounds=1)
    Projector(tracker, views).catch_up()
    with views.datastore.transaction(commit=True) as cursor:  # views as 63d0810 made them
        cursor.execute(f"DROP TABLE {views.tables.table('changes')}")
    unopened = run_cli(sqlite_url, "changes")
    assert unopened.returncode == 2 and "no change view yet" in unopened.stderr
    open_views(tracker)  # as a server opening them does
    gap = run_cli(sqlite_url, "changes")
    assert gap.returncode == 2 and "run `tracker rebuild` to fill it" in gap.stderr
    tracker.close()


@pytest.mark.postgres
def test_opening_the_views_while_the_projector_writes_a_page_never_deadlocks(postgres_url):
    """Opening the views (a server starting, `tracker rebuild`) takes each view's table for its
    indexes in one order; the projector writes a page's tables in that same order, so neither
    waits on the other in a circle. The projector is held between its first and second table
    (where a rival opening takes its locks)."""
    import threading
    import time

    from tracker.views import store

    tracker = open_tracker(Settings(database_url=postgres_url, lock_timeout=2))
    try:
        views = open_views(tracker)
        live = Projector(tracker, views)
        tracker.record([Status(1, "send", "")], received_at=T0)
        held, writes = threading.Event(), []
        message_rows, change_rows = views.tables.write_messages, store.change_view.write_changes

        def then_hold(original):
            def write(*args, **kwargs):
                original(*args, **kwargs)
                writes.append(original)
                if len(writes) == 1:
                    held.set()
                    time.sleep(2.0)  # past PostgreSQL's deadlock_timeout (1 s)

            return write

        views.tables.write_messages = then_hold(message_rows)
        store.change_view.write_changes = then_hold(change_rows)
        failed: list[BaseException] = []

        def project() -> None:
            try:
                live.catch_up()
            except BaseException as e:
                failed.append(e)

        projecting = threading.Thread(target=project)
        try:
            projecting.start()
            assert held.wait(10)
            other = open_tracker(Settings(database_url=postgres_url, lock_timeout=10))
            try:
                open_views(other)  # creates nothing new, but takes the tables for the indexes
            finally:
                other.close()
            projecting.join(20)
        finally:
            store.change_view.write_changes = change_rows
        assert not failed and len(writes) == 2
        assert [c.id_sms for c in every_change(views)] == [1]
    finally:
        tracker.close()
