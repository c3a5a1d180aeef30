"""The projector as a process of its own: killed at random points, restarted, never wrong."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time

import pytest

from bench.history import write_history
from tests.support import run_cli
from tracker.application import Status
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.stores.sqlite.views import open_output_file
from tracker.views.projector import rebuild

EVENTS = 200_000
KILLS = 5


def start_projector(database_url: str, log) -> subprocess.Popen:
    env = {**os.environ, "TRACKER_DATABASE_URL": database_url, "TRACKER_CREATE_TABLES": "false"}
    return subprocess.Popen(
        [sys.executable, "-m", "tracker", "project"], env=env, stdout=log, stderr=log
    )


def test_a_projector_killed_while_catching_up_ends_identical_to_a_rebuild(database_url, tmp_path):
    tracker = open_tracker(Settings(database_url=database_url))
    views = open_views(tracker)
    stored = write_history(tracker, EVENTS, seed=3)
    head = tracker.recorder.max_notification_id()
    rnd = random.Random(20261126)
    positions = []
    # Kill points spread over the catch-up by progress, not by time, so that a fast machine
    # still kills the projector while it is catching up; each lands at a random moment.
    targets = sorted(rnd.uniform(0.05, 0.9) * head for _ in range(KILLS))
    with (tmp_path / "projector.log").open("wb") as log:
        for target in targets:
            process = start_projector(database_url, log)
            deadline = time.monotonic() + 120
            while views.position() < target and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rnd.uniform(0, 0.05))  # somewhere inside a page
            process.kill()  # SIGKILL: no clean-up, maybe mid-transaction
            process.wait()
            positions.append(views.position())
            assert positions[-1] < head, "caught up before every kill: use more events"
        process = start_projector(database_url, log)
        deadline = time.monotonic() + 300
        while views.position() < head and time.monotonic() < deadline:
            time.sleep(0.2)
        process.terminate()
        process.wait(timeout=30)
    assert stored >= EVENTS
    assert positions == sorted(positions) and positions[-1] > 0  # each run resumed, none restarted
    assert views.position() == head
    expected = rebuild(tracker, open_output_file(str(tmp_path / "rebuilt.sqlite")), into_live=False)
    assert views.checksums() == expected.checksums
    tracker.close()


def test_rebuild_shows_progress_and_a_summary_with_checksums(sqlite_url):
    tracker = open_tracker(Settings(database_url=sqlite_url))
    for n in range(50):
        tracker.record([Status(n, "send", ""), Status(n, "deliver", "2026-01-01 12:00:00")])
    tracker.close()
    first, second = run_cli(sqlite_url, "rebuild"), run_cli(sqlite_url, "rebuild", "messages")
    assert first.returncode == second.returncode == 0, first.stderr
    assert re.search(r"rebuilding .*100%.* 100 events .*events/s", first.stderr)
    assert re.search(
        r"rebuilt messages, state_counts, delivery_times, quarantine, changes, breakdown, "
        r"breakdown_times from 100 events in ",
        first.stdout,
    )
    sums = [line for line in first.stdout.splitlines() if "sha256" in line]
    assert [line.split()[0] for line in sums] == [
        "messages", "state_counts", "delivery_times", "quarantine", "changes", "breakdown",
        "breakdown_times",
    ]  # fmt: skip
    assert sums == [line for line in second.stdout.splitlines() if "sha256" in line]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rebuild", "nosuch"], "no such view: nosuch"),
        (["rebuild", "--until", "2026-01-01"], "give --out FILE.sqlite"),
    ],
)
def test_rebuild_refuses_what_it_cannot_do(sqlite_url, args, message):
    result = run_cli(sqlite_url, *args)
    assert result.returncode == 2
    assert message in result.stderr
