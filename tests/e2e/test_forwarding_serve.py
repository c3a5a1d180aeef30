"""Outbound webhooks end to end: `tracker serve` takes reports, its projector makes the change
view, its forwarders POST the changes to a receiver over real HTTP, through failures, timeouts,
a killed server and a receiver that never answers."""

from __future__ import annotations

import signal
import time
from collections import defaultdict

import msgspec
import pytest

from tests.e2e.conftest import KEYS, start_server, stop_server
from tests.forwarding_receiver import Receiver
from tests.support import create_schema, drop_schema
from tracker.bootstrap import open_views
from tracker.forwarding.signing import new_secret
from tracker.web.console.render import COOKIE

SECRET = new_secret()
STATES = ("send", "deliver")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
        return
    url = create_schema(request.getfixturevalue("postgres_server"))
    yield url
    drop_schema(url)


def forwarding(receiver: Receiver, **more: str) -> dict[str, str]:
    return {"forward_url": receiver.url, "forward_secret": SECRET, "forward_from": "start",
            "forward_timeout": "1", "forward_max_backoff": "2s", "forward_batch": "7",
            **more}  # fmt: skip


def post_reports(server, first: int, messages: int) -> None:
    """Each message sent, then delivered: one POST per state, every id acknowledged."""
    for hour, state in enumerate(STATES):
        body = msgspec.json.encode(
            [
                {"id_sms": i, "time": f"2026-12-01 1{hour}:00:00", "state": state}
                for i in range(first, first + messages)
            ]
        )
        answer = server.post(body)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()) == messages


def the_change_view(server) -> list:
    tracker = server.open_store()
    try:
        return open_views(tracker, create=False).changes_after(0, 10**6)
    finally:
        tracker.close()


def test_every_change_reaches_a_receiver_that_fails_twice_in_order_signed_across_a_kill(
    database_url, tmp_path
):
    with Receiver([500, "hang"], hang=3.0) as receiver:
        server = start_server(database_url, tmp_path / "a.log", **forwarding(receiver))
        try:
            post_reports(server, 5000, 30)
            receiver.wait_for(7)  # some batches delivered, then killed with more in hand
        finally:
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
        post_kill = len(receiver.accepted)
        server = start_server(database_url, tmp_path / "b.log", **forwarding(receiver))
        try:
            post_reports(server, 6000, 20)
            server.settled()
            expected = the_change_view(server)
            receiver.wait_for(len(expected), within=60)
        finally:
            stop_server(server)
    assert len(expected) == 2 * (30 + 20)  # each message's first state, and its change
    assert (receiver.requests[0].answered, receiver.requests[1].answered) == (500, None)
    said = (tmp_path / "a.log").read_text()  # the projector process says each failure
    assert "not delivered: HTTP 500" in said, said[-3000:]
    receiver.check_signatures(SECRET)
    got = receiver.changes()
    positions = [c["position"] for c in got]
    assert sorted(set(positions)) == [c.position for c in expected]  # nothing lost, nothing else
    assert positions == sorted(positions)  # in position order, each repeat next to its first
    ids_of = defaultdict(set)
    for r in receiver.accepted:
        for c in r.changes:
            ids_of[c["position"]].add(r.id)
    assert all(len(ids) == 1 for ids in ids_of.values())  # a repeat carries the same id
    per_message = defaultdict(list)
    for c in {c["position"]: c for c in got}.values():
        per_message[c["id_sms"]].append((c["previous"], c["state"]))
    assert all(states == [(None, "send"), ("send", "deliver")] for states in per_message.values())
    assert post_kill <= len(receiver.accepted)


def test_a_receiver_that_never_answers_holds_up_no_acknowledgement(tmp_path):
    with Receiver(hang=30.0) as receiver:
        receiver.hanging.set()
        server = start_server(
            f"sqlite:///{tmp_path / 'tracker.db'}",
            tmp_path / "server.log",
            api_keys=",".join(f"{role}:{key}" for role, key in KEYS.items()),
            **forwarding(receiver, forward_timeout="5"),
        )
        try:
            for n in range(20):  # every POST acknowledged in full while the receiver hangs
                post_reports(server, 7000 + 10 * n, 10)
            deadline = time.monotonic() + 30
            with server.client(headers={"Authorization": f"Bearer {KEYS['auditor']}"}) as client:
                while time.monotonic() < deadline:
                    status = client.get("/forwarding").json()["endpoints"][0]
                    if status["failures"] >= 1:
                        break
                    time.sleep(0.2)
            with server.client(headers={"Authorization": f"Bearer {KEYS['admin']}"}) as client:
                metrics = client.get("/metrics").text
            with server.client(cookies={COOKIE: KEYS["auditor"]}) as client:
                console = client.get("/ui/forwarding").text
                overview = client.get("/ui/").text
        finally:
            stop_server(server)
    assert receiver.requests, server.log.read_text()  # it was being tried all along
    assert status["position"] == 0 and status["behind"] > 0 and status["started"]
    assert status["failures"] >= 1 and status["last_error"].startswith("no answer in 5 s")
    assert status["endpoint"].endswith("/hooks?...") and "token" not in str(status)
    assert 'tracker_forward_failures_total{endpoint="1"}' in metrics
    assert 'tracker_forward_behind_positions{endpoint="1"}' in metrics
    assert "token" not in metrics and "/hooks?..." in console and "token=" not in console
    assert 'id="forwarding"' in overview and "1 failing" in overview
