"""Reconciliation beside a running `tracker serve` on the same SQLite store: `tracker reconcile`
run by hand, and the server's own periodic reconciler (TRACKER_RECONCILE_EVERY); what they
record is what the server's read API and webhook then see."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import start_server, stop_server
from tests.standin_platform import LOGIN, PASSWORD, Answer, StandinPlatform


@pytest.fixture
def platform():
    standin = StandinPlatform().start()
    yield standin
    standin.stop()


def post(server, *items: tuple[int, str, str]):
    body = json.dumps([{"id_sms": n, "time": t, "state": s} for n, s, t in items]).encode()
    answer = server.post(body)
    assert answer.status_code == 200, answer.text
    return answer


def reports(server, id_sms: int) -> list[dict]:
    with server.client() as client:
        answer = client.get(f"/messages/{id_sms}/history")
        assert answer.status_code == 200, answer.text
        return answer.json()["reports"]


def eventually(check, within: float = 20.0):
    deadline = time.monotonic() + within
    while not (result := check()):
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.1)
    return result


def test_reconcile_records_beside_the_server_and_the_server_sees_it(tmp_path, platform):
    server = start_server(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "server.log")
    try:
        post(server, (9100, "send", ""), (9101, "read", "2026-04-01 10:00:00"))
        server.settled()
        platform.states = {9100: Answer("deliver", "2026-04-01 10:05:00", num_parts=3, price=1.5)}
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
        env |= {"TRACKER_DATABASE_URL": server.database_url,
                "TRACKER_PLATFORM_URL": platform.url("json"),
                "TRACKER_PLATFORM_LOGIN": LOGIN, "TRACKER_PLATFORM_PASSWORD": PASSWORD}  # fmt: skip
        run = subprocess.run([sys.executable, "-m", "tracker", "reconcile", "--after", "0s"],
                             env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert "asked about 1 message(s) in 1 request(s): 1 changed" in run.stdout
        assert platform.asked == [9100]  # 9101 is final
        # The server's read API shows the polled report at once (from the event store).
        last = reports(server, 9100)[-1]
        assert (last["state"], last["time"], last["state_after"]) == (
            "deliver", "2026-04-01 10:05:00", "deliver",
        )  # fmt: skip
        assert (last["source"], last["num_parts"], last["price"]) == ("poll", 3, 1.5)
        # The server's writer caught up with the other writer: the same report from the
        # webhook is a repeat of the polled one, and a read after it applies.
        post(
            server, (9100, "deliver", "2026-04-01 10:05:00"), (9100, "read", "2026-04-01 10:07:00")
        )
        history = reports(server, 9100)
        assert [(r["state"], r["deliveries"]) for r in history] == [
            ("send", 1), ("deliver", 2), ("read", 1),
        ]  # fmt: skip
        with server.client() as client:
            assert client.get("/messages/9100").json()["state"] == "read"
    finally:
        stop_server(server)


def test_serve_reconciles_on_its_period_and_goes_on_after_an_error(tmp_path, platform):
    platform.states = {9200: Answer("deliver", "2026-04-01 10:05:00", sms="deliver"),
                       9201: Answer("deliver", "2026-04-01 10:06:00")}  # fmt: skip
    log = tmp_path / "server.log"
    server = start_server(
        f"sqlite:///{tmp_path / 'tracker.db'}", log, reconcile_every="1s", reconcile_after="0s",
        platform_url=platform.url("xml"), platform_login=LOGIN, platform_password=PASSWORD,
    )  # fmt: skip
    try:
        post(server, (9200, "send", ""), (9201, "send", ""))
        polled = eventually(lambda: (r := reports(server, 9200)[-1])["state"] == "deliver" and r)
        assert (polled["source"], polled["channels"]) == ("poll", {"sms": "deliver"})
        platform.failure = "locked"
        eventually(lambda: "Your account is locked" in log.read_text())
        failed_at = len(platform.requests)
        eventually(lambda: len(platform.requests) > failed_at + 1)  # the next periods came
        platform.failure = None
        platform.states[9200] = Answer("read", "2026-04-01 10:09:00")
        eventually(lambda: reports(server, 9200)[-1]["state"] == "read")
        # Final now: no longer asked about; 9201 (deliver) still is, on every period.
        eventually(lambda: platform.requests[-1].ids == [9201])
    finally:
        stop_server(server)
    stopped_at = len(platform.requests)
    time.sleep(2.5)
    assert len(platform.requests) == stopped_at, "the reconciler outlived the server"
    text = log.read_text()
    assert "reconcile: the platform refused the status request: Your account is locked" in text
    assert PASSWORD not in text


def test_serve_refuses_to_start_a_reconciler_without_credentials(tmp_path):
    with pytest.raises(RuntimeError) as raised:
        start_server(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "server.log",
                     reconcile_every="1h",
                     platform_url="https://platform.example/json/state.php")  # fmt: skip
    assert "set TRACKER_PLATFORM_TOKEN, or TRACKER_PLATFORM_LOGIN" in str(raised.value)
