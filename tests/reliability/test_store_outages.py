"""PostgreSQL stops, and later has the tracker's connections killed, while the platform posts:
requests get 503 with nothing acknowledged, the server recovers by itself, and its projection
resumes without skipping an event."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from bench.loadgen import report_mix
from tests.e2e.conftest import start_server, stop_server
from tests.reliability.platform import Platform, StoreAudit
from tests.reliability.proxy import proxied
from tests.support import server_url
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.views.projector import rebuild

pytestmark = pytest.mark.postgres


def wait_for(condition, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_server_rides_out_postgres_stopping_and_its_connections_being_killed(
    postgres_url, tmp_path
):
    proxy, url = proxied(postgres_url)
    server = start_server(url, tmp_path / "server.log", lock_timeout="1")
    reports = report_mix(1, 2000, 100, seed=9)
    platform = Platform(server.base_url, reports, senders=4, pace=0.05)
    sending = threading.Thread(target=platform.run)
    sending.start()
    progress = lambda: len(platform.outcome.acknowledged) / len(reports)  # noqa: E731
    try:
        wait_for(lambda: progress() > 0.2)
        proxy.cut()  # the database server "stops" for 8 s (longer than the 3 s connect timeout)
        time.sleep(8)
        proxy.start()
        answers_during_the_stop = dict(platform.outcome.answers)
        wait_for(lambda: progress() > 0.6)
        with psycopg.connect(server_url(postgres_url), autocommit=True) as admin:
            killed = admin.execute(
                "WITH victims AS MATERIALIZED (SELECT pid FROM pg_stat_activity "
                "WHERE client_port = ANY(%s) AND pid <> pg_backend_pid()) "
                "SELECT count(*) FROM victims WHERE pg_terminate_backend(pid)",
                [proxy.upstream_ports()],
            ).fetchone()[0]
        sending.join(timeout=120)
        with server.client() as client:  # the server's own projection catches up by itself
            wait_for(lambda: client.get("/health/ready").json()["projection"]["lag"] == 0)
    finally:
        stop_server(server)
        proxy.cut()

    outcome = platform.outcome
    assert answers_during_the_stop.get(503, 0) > 0, answers_during_the_stop
    assert killed > 0
    assert outcome.given_up == []
    assert set(outcome.answers) <= {200, 503}, outcome.answers  # 503 or stored, nothing else
    # Straight to the database: the proxy is cut for good now.
    tracker = open_tracker(Settings(database_url=postgres_url, create_tables=False))
    try:
        assert StoreAudit(tracker).lost(outcome.acknowledged) == []
        views = open_views(tracker, create=False)
        live = views.checksums()
        assert rebuild(tracker, views).checksums == live  # no event skipped, none twice
    finally:
        tracker.close()
    print(
        f"\noutage run: {outcome.reports} reports, {outcome.posts} posts, answers "
        f"{dict(outcome.answers)}, {killed} connections killed, 0 lost"
    )
