"""The server is SIGKILLed at random moments while the platform posts and re-sends; afterwards
every acknowledged report is stored, none twice, and the views equal a rebuild.

`make test` runs a short version; `make test-crash` the full one (50,000 reports, 20 kills,
on both stores). TRACKER_CRASH_REPORTS and TRACKER_CRASH_KILLS set the size.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time

from bench.loadgen import report_mix
from tests.e2e.conftest import LiveServer, free_port, start_server, stop_server
from tests.reliability.platform import Platform, StoreAudit
from tracker.bootstrap import open_views
from tracker.stores.sqlite.views import views_file
from tracker.views.projector import Projector, rebuild

REPORTS = int(os.environ.get("TRACKER_CRASH_REPORTS", "4000"))
KILLS = int(os.environ.get("TRACKER_CRASH_KILLS", "4"))


UPTIME = (0.3, 1.5)  # seconds the server runs between kills: a random moment in its work


class Killer(threading.Thread):
    """Kills the server with SIGKILL after a random uptime, and starts it again on the same
    port, ``kills`` times."""

    def __init__(self, server: LiveServer, restart, kills: int, seed: int):
        super().__init__(daemon=True)
        self.server, self.restart = server, restart
        rnd = random.Random(seed)
        self.uptimes = [rnd.uniform(*UPTIME) for _ in range(kills)]
        self.kills = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for uptime in self.uptimes:
                time.sleep(uptime)
                self.server.process.send_signal(signal.SIGKILL)
                self.server.process.wait()
                self.kills += 1
                self.server = self.restart()
        except BaseException as e:
            self.error = e


def test_nothing_acknowledged_is_lost_when_the_server_is_killed_at_random(database_url, tmp_path):
    port, log = free_port(), tmp_path / "server.log"

    def start() -> LiveServer:
        return start_server(database_url, log, port=port, lock_timeout="2")

    reports = report_mix(1, REPORTS // 3, 100, seed=7)
    # Paced so that sending lasts about as long as the kills take (a restart takes ~1 s).
    seconds = KILLS * (sum(UPTIME) / 2 + 1.0)
    platform = Platform(
        f"http://127.0.0.1:{port}", reports, senders=4, pace=400 * seconds / REPORTS
    )
    killer = Killer(start(), start, KILLS, seed=11)
    killer.start()
    outcome = platform.run()
    killer.join(timeout=300)
    assert killer.error is None, killer.error
    stop_server(killer.server)

    tracker = killer.server.open_store()
    try:
        audit = StoreAudit(tracker)
        lost, twice = audit.lost(outcome.acknowledged), audit.stored_twice()
        views = open_views(tracker)
        Projector(tracker, views).catch_up()
        live = views.checksums()
        rebuilt = rebuild(tracker, views).checksums
    finally:
        tracker.close()
    integrity = "ok"
    if database_url.startswith("sqlite"):
        events = database_url.removeprefix("sqlite:///")
        for path in (events, views_file(events)):  # the events, and the views beside them
            with sqlite3.connect(path) as db:
                integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
            assert integrity == "ok", path

    cut_short = outcome.answers["RemoteProtocolError"] + outcome.answers["ReadError"]
    print(
        f"\ncrash run on {database_url.split(':')[0]}: {outcome.reports} reports, {outcome.posts} "
        f"posts, {killer.kills} kills ({cut_short} requests cut short), "
        f"{len(outcome.acknowledged)} acknowledged, "
        f"{len(lost)} lost, {len(twice)} stored twice, {len(outcome.given_up)} given up by the "
        f"platform, answers {dict(outcome.answers)}, {outcome.seconds:.1f} s"
    )
    assert killer.kills == KILLS
    assert lost == []
    assert twice == []
    assert integrity == "ok"
    assert live == rebuilt
    assert outcome.server_errors == 0, outcome.answers
    assert len(outcome.acknowledged) > REPORTS // 2  # the run did store most of what was sent
