"""Several ingest processes on one store, platforms posting overlapping ids to all of them: no
5xx, nothing acknowledged lost or stored twice, and every message's state equals the fold of the
reports stored for it."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from datetime import datetime

import httpx
import pytest

from bench.loadgen import report_mix
from tests.e2e.conftest import start_server, stop_server
from tests.reliability.platform import Outcome, Platform, StoreAudit
from tests.support import run_cli
from tracker.application import Tracker
from tracker.audit.tree import AuditTree
from tracker.audit.verify import verify_log
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.status import Report, fold
from tracker.read.export import message_rows
from tracker.views.projector import Projector

MESSAGES = int(os.environ.get("TRACKER_SCALE_MESSAGES", "1500"))


def post_everywhere(urls: list[str], reports: list[dict], senders: int) -> list[Outcome]:
    """One platform per server, all sending the same messages, each in an order of its own."""
    platforms = []
    for n, url in enumerate(urls):
        mine = list(reports)
        random.Random(n).shuffle(mine)
        platforms.append(Platform(url, mine, senders=senders))
    threads = [threading.Thread(target=p.run) for p in platforms]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [p.outcome for p in platforms]


def check_store(database_url: str, outcomes: list[Outcome]) -> int:
    """Nothing lost, nothing twice, every state the fold of its reports; returns the messages."""
    tracker = open_tracker(Settings(database_url=database_url, create_tables=False))
    try:
        return _check(tracker, outcomes)
    finally:
        tracker.close()


def _check(tracker: Tracker, outcomes: list[Outcome]) -> int:
    audit = StoreAudit(tracker)
    stored = audit.reports
    for outcome in outcomes:
        assert outcome.server_errors == 0, outcome.answers
        assert outcome.given_up == [], outcome.answers
        assert audit.lost(outcome.acknowledged) == []
    assert audit.stored_twice() == []
    assert audit.received_out_of_order() == []
    views = open_views(tracker, create=False)
    deadline = time.monotonic() + 60
    while (lag := Projector(tracker, views).lag())[0] < lag[1] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lag[0] == lag[1], f"the views stayed behind: {lag}"
    tree = AuditTree(views)  # the audit tree covers every event, whichever worker stored it
    while tree.head().position < lag[1] and time.monotonic() < deadline:
        time.sleep(0.2)
    verified = verify_log(tracker, tree)
    assert verified.sound, (verified.finding, verified.problems)
    assert tree.head().size == verified.events == len(tracker.store.select_log(0, lag[1]))
    rows = {row["id_sms"]: row for row in message_rows(views)}
    states = {id_sms: row["state"] for id_sms, row in rows.items()}
    for id_sms, row in rows.items():  # one clock: a message's first receipt is its earliest
        assert row["first_received_at"] == min(r["received_at"] for r in stored[id_sms])
        assert row["delivered_at"] is None or row["delivered_at"] >= row["first_received_at"]
    for id_sms, rows in stored.items():
        reports = [
            Report(
                r["state"],
                r["time"],
                datetime.fromisoformat(r["instant"]) if r["instant"] else None,
            )
            for r in rows
        ]
        expected = fold(reports)
        assert states[id_sms] == (expected.state if expected else None), id_sms
    print(
        f"\n{len(outcomes)} platforms: "
        + "; ".join(
            f"{o.reports} reports, {o.posts} posts, {len(o.acknowledged)} acknowledged, "
            f"answers {dict(o.answers)}"
            for o in outcomes
        )
        + f"; {len(stored)} messages, all states equal to the fold"
    )
    return len(stored)


@pytest.mark.postgres
def test_two_ingest_servers_and_a_projector_process_on_one_postgres(postgres_url, tmp_path):
    assert run_cli(postgres_url, "migrate").returncode == 0
    common = {"projections": "off", "create_tables": "false", "lock_timeout": "2"}
    servers = [start_server(postgres_url, tmp_path / f"server-{n}.log", **common) for n in range(2)]
    env = {**os.environ, "TRACKER_DATABASE_URL": postgres_url, "TRACKER_CREATE_TABLES": "false"}
    projector = subprocess.Popen(
        [sys.executable, "-m", "tracker", "project", "--interval", "0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        outcomes = post_everywhere(
            [s.base_url for s in servers], report_mix(1, MESSAGES, 100, seed=5), senders=4
        )
        assert check_store(postgres_url, outcomes) == MESSAGES
    finally:
        projector.terminate()
        projector.wait(timeout=15)
        for server in servers:
            stop_server(server)


def test_several_sqlite_worker_processes_never_fail_with_database_is_locked(tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    server = start_server(url, tmp_path / "server.log", workers="3", lock_timeout="5")
    try:
        outcomes = post_everywhere(
            [server.base_url] * 2, report_mix(1, MESSAGES, 100, seed=6), senders=4
        )
        assert check_store(url, outcomes) == MESSAGES
    finally:
        stop_server(server)
    log = (tmp_path / "server.log").read_text()
    assert "database is locked" not in log
    assert "Traceback" not in log


@pytest.mark.parametrize("writer", ["process", "inline"])
def test_receipt_times_never_go_back_with_big_bodies_and_two_server_processes(tmp_path, writer):
    """Receipts were stamped by each server process on arrival, before a large body was read
    in a thread: a batch stamped earlier could be committed later (negative delivery times, a
    first receipt that was not the first). Stamped by the writer, they follow the log."""
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    server = start_server(url, tmp_path / "server.log", workers="2", writer=writer)
    padding = "x" * 2000  # bodies over 64 KiB are read in a worker thread
    big = [
        {"id_sms": n, "time": "2024-05-01 10:00:00", "state": "send", "note": padding}
        for n in range(1, 60)
    ]
    small = [[{"id_sms": n, "time": "2024-05-01 10:00:05", "state": "deliver"}]
             for n in range(1, 60)]  # fmt: skip

    def send(bodies):
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            for body in bodies:
                assert client.post("/webhooks/webcom", json=body).status_code == 200

    try:
        threads = [threading.Thread(target=send, args=([big] * 8,)) for _ in range(2)]
        threads += [threading.Thread(target=send, args=(small,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert check_store(url, []) == 59
    finally:
        stop_server(server)
